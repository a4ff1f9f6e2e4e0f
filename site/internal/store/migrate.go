package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations
var migrations embed.FS

// migration is one versioned schema change: migrations/<engine>/<version>_<name>.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the engine's migrations in version order.
func loadMigrations(engine Engine) ([]migration, error) {
	dir := path.Join("migrations", string(engine))
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("store: no migrations for %s: %w", engine, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("store: migration file %s/%s is not named <version>_<name>.sql", dir, name)
		}
		b, err := migrations.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := range out {
		if out[i].version != i+1 {
			return nil, fmt.Errorf("store: %s migrations must be numbered 1, 2, 3…; found %s at position %d", engine, out[i].name, i+1)
		}
	}
	return out, nil
}

// migrate applies, in order and each in its own transaction, the migrations newer than the
// highest version recorded in schema_migrations. A database newer than this binary is an
// error: running old code on a new schema could lose data.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.engine)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: creating schema_migrations: %w", err)
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur > len(ms) {
		return fmt.Errorf("store: the database is at schema version %d but this binary knows only %d: run a newer site", cur, len(ms))
	}
	for _, m := range ms[cur:] {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)`), m.version, m.name, s.now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: applying migration %s: %w", m.name, err)
		}
	}
	return nil
}

// SchemaVersion is the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: reading schema_migrations: %w", err)
	}
	return int(v.Int64), nil
}
