package main

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"heartline/scripts/proctest"
)

// A gateway started with TCP disabled (-tcp-addr "") must still feed its agent: with no TCP
// worker there is no TCP shard to wait for.
func TestProcessWithoutTCPFeedsTheAgent(t *testing.T) {
	dir := t.TempDir()
	bin := proctest.Build(t, "heartline/gateway")[0]
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(3*i + 1)
	}
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("7 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := testKeyRing(t) // the same secret under id 7
	udp, adminAddr := proctest.FreeAddr(t, "udp"), proctest.FreeAddr(t, "tcp")
	sock := filepath.Join(dir, "feed.sock")
	cmd := exec.Command(bin, "-udp-addr", udp, "-tcp-addr", "", "-admin-addr", adminAddr, "-feed-socket", sock,
		"-secret-file", keyFile, "-loops", "2", "-max-sessions", "1000", "-gateway-id", "gw-udp", "-flush-interval", "10ms")
	logs, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("gateway log:\n%s", b)
		}
	}()

	a := dialAgent(t, sock)
	a.until(t, 10*time.Second, "snapshot from a gateway without TCP", func() bool { return a.snapshots == 1 })
	c := newClient(t, keys, udp, 77, 1, time.Now())
	c.connect(t, time.Now())
	a.until(t, 5*time.Second, "ONLINE over UDP", func() bool { return len(a.state) == 1 })
}
