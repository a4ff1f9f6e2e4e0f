package web

import (
	"sync"

	"heartline/site/internal/auth"
)

var (
	dummyOnce sync.Once
	dummy     string
)

// dummyHash is a hash of a random password, checked for unknown accounts so a login for an
// unregistered e-mail costs as much as one for a registered one.
func dummyHash(p auth.HashParams) string {
	dummyOnce.Do(func() {
		h, err := auth.HashPassword("no account has this password", p)
		if err != nil {
			panic(err)
		}
		dummy = h
	})
	return dummy
}
