package main

import (
	"flag"
	"fmt"
	"io"

	"heartline/site/auth"
	"heartline/site/members"
)

// seedCommand is `site seed -n 200 -out members.json [-seed 1] [-password …]`: it writes a
// members file of synthetic demo profiles with ids members.FirstDemoID… and one shared
// demo password.
func seedCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("site seed", flag.ContinueOnError)
	n := fs.Int("n", 200, "number of demo members")
	path := fs.String("out", "members.json", "members file to write (overwritten)")
	s := fs.Uint64("seed", 1, "random seed of the profiles (ids do not depend on it)")
	pw := fs.String("password", "heartline-demo-1", "the demo members' shared password")
	if err := envFlags(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := seed(*path, *n, *s, *pw); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %d demo members (ids %d..%d, e-mail demo<id>@heartline.invalid) to %s\n",
		*n, members.FirstDemoID, members.FirstDemoID+uint64(*n)-1, *path)
	return nil
}

func seed(path string, n int, s uint64, password string) error {
	if len(password) < 8 {
		return fmt.Errorf("demo password must have at least 8 characters")
	}
	// One hash for all demo members: they share the password, and hashing it n times would
	// only slow the seed down.
	hash, err := auth.HashPassword(password, auth.DefaultHashParams)
	if err != nil {
		return err
	}
	ms, err := members.GenerateDemo(members.DemoOptions{N: n, Seed: s, PasswordHash: hash})
	if err != nil {
		return err
	}
	return members.WriteFile(path, ms)
}
