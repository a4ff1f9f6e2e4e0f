package pgtest

import (
	"database/sql"
	"net"
	"os"
	"testing"
)

func TestServerRunsQueriesAndIsolatesDatabases(t *testing.T) {
	s := Start(t)
	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share the DSN %s", a)
	}
	db, err := sql.Open("pgx", a)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INT)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT 40 + 2`).Scan(&n); err != nil || n != 42 {
		t.Fatalf("SELECT 40+2 = %d, %v", n, err)
	}
	other, err := sql.Open("pgx", b)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`SELECT x FROM t`); err == nil {
		t.Fatal("table created in one database is visible in another")
	}
}

func TestStartRetriesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	orig := pickPort
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return orig()
	}
	defer func() { pickPort = orig }()
	s := Start(t)
	if s.Port == taken || calls < 2 {
		t.Fatalf("server on port %d after %d picks; the taken port was %d", s.Port, calls, taken)
	}
}

func TestStopRemovesTheDataDirectory(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) { dir = Start(t).DataDir })
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data directory %s still exists after the test: %v", dir, err)
	}
}
