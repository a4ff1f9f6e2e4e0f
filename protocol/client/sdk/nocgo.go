//go:build !cgo

// Without cgo there is no C API to export; this keeps `go build ./...` and `go vet ./...`
// working with CGO_ENABLED=0.
package main

func main() {}
