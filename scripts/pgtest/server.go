package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to check readiness and create databases
)

// Server is one PostgreSQL server started for a test.
type Server struct {
	// Port is the loopback TCP port it listens on.
	Port    int
	DataDir string

	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{}
	logBuf *bytes.Buffer
	dbs    atomic.Int64
}

// startTimeout bounds initdb plus the server's start.
const startTimeout = 90 * time.Second

// pickPort chooses the server's port (a variable so a test can hand out a taken one).
var pickPort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs initdb in a temporary directory and starts PostgreSQL on a free loopback port,
// retrying on another port when the one picked was taken meanwhile. The server is stopped
// and its directory removed when the test ends. It fails the test (never skips) when
// PostgreSQL cannot be started.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(t)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func start(t testing.TB) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are private to root, and the server may run as postgres.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: handing %s to uid %d: %w", dir, cred.Uid, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var out bytes.Buffer
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.Stdout, initdb.Stderr = &out, &out
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if err := initdb.Run(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb failed: %v\n%s", err, out.String())
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := pickPort()
		if err != nil {
			return nil, err
		}
		s := &Server{Port: port, DataDir: data, t: t, exited: make(chan struct{}), logBuf: &bytes.Buffer{}}
		err = s.run(ctx, bin, dir, cred)
		if err == nil {
			t.Cleanup(s.stop)
			return s, nil
		}
		lastErr = err
		if !strings.Contains(s.logBuf.String(), "could not bind") && !strings.Contains(s.logBuf.String(), "could not create any TCP/IP sockets") {
			break
		}
		t.Logf("pgtest: port %d was taken; trying another", port)
	}
	return nil, lastErr
}

// run starts the server process and waits until it accepts connections or exits.
func (s *Server) run(ctx context.Context, bin, dir string, cred *syscall.Credential) error {
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", s.DataDir, "-p", fmt.Sprint(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		// a test database is disposable: trade durability for speed
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=32MB")
	s.cmd.Stdout, s.cmd.Stderr = s.logBuf, s.logBuf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	s.cmd.Dir = dir
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }() //nolint:errcheck
	for {
		// A short timeout per attempt: when the port was taken, whatever holds it may accept
		// the connection and never answer, while our server exits with "could not bind".
		db, err := sql.Open("pgx", s.dsn("postgres")+"&connect_timeout=1")
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = db.PingContext(pctx)
			cancel()
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("pgtest: postgres exited during start:\n%s", s.logBuf.String())
		case <-ctx.Done():
			s.stop()
			return fmt.Errorf("pgtest: postgres on port %d did not accept connections within %s: %v\n%s", s.Port, startTimeout, err, s.logBuf.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the server (fast shutdown, then kill) and waits for it.
func (s *Server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck // fast shutdown
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill() //nolint:errcheck
		<-s.exited
	}
}

func (s *Server) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDatabase creates an empty database for one test and returns its DSN
// (postgres://…, for pgx and site/store).
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	return s.dsn(name)
}

// Log is the server's output so far (for failure messages).
func (s *Server) Log() string { return s.logBuf.String() }
