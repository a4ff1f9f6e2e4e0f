package consultest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns the path of the pinned Consul binary, building it with
// scripts/install-consul.sh on first use if it is not cached yet (minutes, once).
func Binary() (string, error) {
	binaryOnce.Do(func() {
		if p := os.Getenv("HEARTLINE_CONSUL_BIN"); p != "" {
			binaryPath = p
			return
		}
		_, self, _, ok := runtime.Caller(0)
		if !ok {
			binaryErr = fmt.Errorf("consultest: cannot locate the repository; set HEARTLINE_CONSUL_BIN to a consul binary")
			return
		}
		script := filepath.Join(filepath.Dir(self), "..", "install-consul.sh")
		var out, errOut bytes.Buffer
		cmd := exec.Command("bash", script)
		cmd.Stdout = &out
		cmd.Stderr = &errOut
		if err := cmd.Run(); err != nil {
			binaryErr = fmt.Errorf("consultest: %s failed: %v\n%s", script, err, errOut.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		binaryPath = strings.TrimSpace(lines[len(lines)-1])
	})
	return binaryPath, binaryErr
}
