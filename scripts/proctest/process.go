package proctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Process is a binary started by Start.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string
	exited  chan struct{}
	err     error
}

// Start runs bin with args and the test's environment plus env, logging to dir/name.log.
// When the test ends the process gets SIGINT, then SIGKILL after 10 s, and its log is
// printed if the test failed.
func Start(t testing.TB, dir, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &Process{Cmd: cmd, LogPath: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	logs, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		logs.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		logs.Close()
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", name, p.LogPath, p.Log())
		}
	})
	return p
}

// Exited is closed when the process has exited; Err is then its exit error.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the process's exit error (nil before it exits, or on a clean exit).
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// Stop sends SIGINT and waits up to grace for the exit, then kills the process.
func (p *Process) Stop(grace time.Duration) {
	p.Cmd.Process.Signal(os.Interrupt) //nolint:errcheck
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Cmd.Process.Kill() //nolint:errcheck
		<-p.exited
	}
}

// Log is what the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}
