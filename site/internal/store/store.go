package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite" (pure Go)
)

// Engine names the database behind a Store.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Options configure Open.
type Options struct {
	// DSN selects the engine: "postgres://…" or "postgresql://…" is PostgreSQL (pgx syntax);
	// anything else is a SQLite file path, optionally written "sqlite:<path>".
	DSN string
	// MaxOpenConns bounds PostgreSQL connections (default 16). SQLite uses its own pool
	// settings (WAL: many readers, one writer at a time with a busy timeout).
	MaxOpenConns int
	// Now is the clock for times the store writes itself (default time.Now).
	Now func() time.Time
}

// Store is the site's database. Safe for concurrent use.
type Store struct {
	db     *sql.DB
	engine Engine
	now    func() time.Time
}

// Open connects, applies pending migrations and returns the store.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	engine, driver, dsn := parseDSN(o.DSN)
	if dsn == "" {
		return nil, errors.New("store: empty database DSN: pass -db with a SQLite file path or a postgres:// URL")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: opening %s database: %w", engine, err)
	}
	if engine == Postgres {
		n := o.MaxOpenConns
		if n <= 0 {
			n = 16
		}
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
	} else {
		// modernc's connections are cheap; WAL lets readers run beside the one writer.
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot reach the %s database (check -db / HEARTLINE_DB): %w", engine, err)
	}
	s := &Store{db: db, engine: engine, now: o.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// parseDSN picks the engine and the driver's DSN.
func parseDSN(dsn string) (Engine, string, string) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return Postgres, "pgx", dsn
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" {
		return SQLite, "sqlite", ""
	}
	// WAL + busy timeout: concurrent readers, writers wait instead of failing;
	// _txlock=immediate takes the write lock at BEGIN, so two sign-ups never deadlock on
	// a read-then-write upgrade. Foreign keys are off by default in SQLite. temp_store=memory
	// keeps statement journals of multi-row inserts off the disk.
	q := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=temp_store(2)&_txlock=immediate"
	if strings.Contains(path, "?") {
		return SQLite, "sqlite", "file:" + path + "&" + q
	}
	return SQLite, "sqlite", "file:" + path + "?" + q
}

// Engine reports which database this store uses.
func (s *Store) Engine() Engine { return s.engine }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// q rebinds a query written with '?' placeholders for the store's engine ($1, $2… for
// PostgreSQL). Queries here never contain '?' inside string literals.
func (s *Store) q(query string) string {
	if s.engine != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// inTx runs f in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback() //nolint:errcheck
		return err
	}
	return tx.Commit()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
