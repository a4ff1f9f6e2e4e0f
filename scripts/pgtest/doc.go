// Package pgtest starts a real PostgreSQL server for tests (Debian's `postgresql` package,
// installed by scripts/install-test-deps.sh): initdb into a temporary directory, the server
// on a random loopback port (another port when the picked one was taken before the server
// bound it), and everything stopped and deleted when the test ends.
//
// PostgreSQL refuses to run as root. When the tests run as root (CI, the chaos bed), the
// helper runs initdb and postgres as the system user "postgres" that the Debian package
// creates (HEARTLINE_PG_USER names another), by setting the child's uid/gid — no sudo,
// runuser or setpriv needed — and hands the temporary directory to that user.
//
// Binaries: $HEARTLINE_PG_BIN (a directory holding initdb and postgres), else PATH, else the
// newest /usr/lib/postgresql/<version>/bin. There is no fake and no skip: a test that asks
// for PostgreSQL gets a real one or fails saying how to install it.
//
// This package owns only the lifecycle of test PostgreSQL processes; it knows nothing of the
// site's schema (site/store migrates its own databases).
package pgtest
