package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"heartline/agent/shared/wiring"
	"heartline/site/internal/auth"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
)

// seedCommand is `site seed -n 200 -db heartline.db [-seed 1] [-password …]`: it writes N
// synthetic demo profiles with ids members.FirstDemoID… and one shared demo password into
// an empty database (batched inserts: a million members take well under a minute on SQLite).
func seedCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("site seed", flag.ContinueOnError)
	n := fs.Int("n", 200, "number of demo members")
	dsn := fs.String("db", "heartline.db", "database to seed (SQLite path or postgres:// URL); must hold no demo members yet")
	s := fs.Uint64("seed", 1, "random seed of the profiles (ids do not depend on it)")
	pw := fs.String("password", "heartline-demo-1", "the demo members' shared password")
	if err := wiring.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: *dsn})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	if err := seed(ctx, st, *n, *s, *pw); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %d demo members (ids %d..%d, e-mail demo<id>@heartline.invalid) to %s in %v\n",
		*n, members.FirstDemoID, members.FirstDemoID+uint64(*n)-1, *dsn, time.Since(start).Round(time.Millisecond))
	return nil
}

// seed writes n demo members into st, streaming them from the generator.
func seed(ctx context.Context, st *store.Store, n int, s uint64, password string) error {
	if len(password) < 8 {
		return fmt.Errorf("demo password must have at least 8 characters")
	}
	if n < 1 || n > members.MaxDemo {
		return fmt.Errorf("-n %d: use 1..%d", n, members.MaxDemo)
	}
	// One hash for all demo members: they share the password, and hashing it n times would
	// only slow the seed down.
	hash, err := auth.HashPassword(password, auth.DefaultHashParams)
	if err != nil {
		return err
	}
	gen := make(chan *members.Member, 4096)
	genErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		genErr <- members.EachDemo(members.DemoOptions{N: n, Seed: s, PasswordHash: hash}, func(m *members.Member) error {
			select {
			case gen <- m:
				return nil
			case <-stop:
				return context.Canceled
			}
		})
		close(gen)
	}()
	_, err = st.InsertMembers(ctx, func() (*members.Member, error) { return <-gen, nil })
	if err != nil {
		return err
	}
	return <-genErr
}

// importCommand is `site import -members members.json -db heartline.db`: the one-time move
// of a members file (the site's storage before the database) into the database, ids,
// password hashes and all. Imported members count as verified.
func importCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("site import", flag.ContinueOnError)
	file := fs.String("members", "members.json", "members file (JSON) written by an older site")
	dsn := fs.String("db", "heartline.db", "database to import into (SQLite path or postgres:// URL)")
	if err := wiring.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ms, err := members.ReadFile(*file)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: *dsn})
	if err != nil {
		return err
	}
	defer st.Close()
	i := 0
	n, err := st.InsertMembers(ctx, func() (*members.Member, error) {
		if i == len(ms) {
			return nil, nil
		}
		m := ms[i]
		i++
		m.Verified = true
		if m.LastActive == 0 {
			m.LastActive = m.CreatedAt.UnixMilli()
		}
		return m, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %d members from %s into %s\n", n, *file, *dsn)
	return nil
}
