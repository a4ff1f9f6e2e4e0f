package procstat

import "testing"

// The /proc parsers read kernel text, but a malformed line must be an error, never a panic.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("1 (x) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1 0\n"))
	f.Add([]byte("VmRSS:\t  12 kB\n"))
	f.Add([]byte("h\n 1: 0100007F:1F90 00000000:0000 07 00000000:00000300 00:00000000 00000000 0 0 1 2 0 5\n"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := ParseStatCPU(b); err == nil && v < 0 {
			t.Fatalf("negative CPU time %d", v)
		}
		_, _ = ParseStatusKB(b, "VmRSS")
		if q, err := ParseUDPTable(b, 0x1F90); err == nil && q.Sockets < 0 {
			t.Fatal("negative socket count")
		}
	})
}
