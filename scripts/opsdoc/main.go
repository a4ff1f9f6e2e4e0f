package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	if err := run("."); err != nil {
		fmt.Fprintln(os.Stderr, "opsdoc:", err)
		os.Exit(1)
	}
}

// run regenerates every flag table under root (the repository root).
func run(root string) error {
	dir, err := os.MkdirTemp("", "opsdoc")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := Build(root, dir, Binaries...); err != nil {
		return err
	}
	for _, b := range Binaries {
		flags, err := Help(filepath.Join(dir, b.Name))
		if err != nil {
			return err
		}
		path := filepath.Join(root, b.Doc)
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		doc, err := Splice(string(raw), b.Name, Table(b, flags))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if doc != string(raw) {
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				return err
			}
			fmt.Println("updated", path, "("+b.Name+")")
		}
	}
	return nil
}
