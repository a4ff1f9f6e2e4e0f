//go:build cgo

package main

// main is required by -buildmode=c-archive and c-shared; the app calls the hl_* functions.
func main() {}
