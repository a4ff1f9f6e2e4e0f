package procstat

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	line := []byte("1234 (we ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 100 1000 200 0\n")
	ns, err := ParseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(325) * 1e7; ns != want {
		t.Fatalf("ParseStatCPU = %d, want %d", ns, want)
	}
	if _, err := ParseStatCPU([]byte("garbage")); err == nil {
		t.Fatal("want an error for a malformed line")
	}
}

func TestParseStatusKB(t *testing.T) {
	b := []byte("Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t  1234 kB\n")
	v, err := ParseStatusKB(b, "VmRSS")
	if err != nil || v != 1234*1024 {
		t.Fatalf("ParseStatusKB = %d, %v", v, err)
	}
	if _, err := ParseStatusKB(b, "VmSwap"); err == nil {
		t.Fatal("want an error for a missing field")
	}
}

func TestParseUDPTable(t *testing.T) {
	b := []byte(`   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:1F90 00000000:0000 07 00000000:00000300 00:00000000 00000000     0        0 1 2 0000000000000000 5
  101: 0100007F:1F90 00000000:0000 07 00000000:00000100 00:00000000 00000000     0        0 2 2 0000000000000000 7
  102: 0100007F:1F91 00000000:0000 07 00000000:00000100 00:00000000 00000000     0        0 3 2 0000000000000000 9
`)
	q, err := ParseUDPTable(b, 0x1F90)
	if err != nil {
		t.Fatal(err)
	}
	if q.Sockets != 2 || q.RxBytes != 0x400 || q.Drops != 12 {
		t.Fatalf("got %+v", q)
	}
}

func TestSelf(t *testing.T) {
	ns, err := CPUNanos(os.Getpid())
	if err != nil || ns <= 0 {
		t.Fatalf("CPUNanos(self) = %d, %v", ns, err)
	}
	rss, err := RSSBytes(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("RSSBytes(self) = %d, %v", rss, err)
	}
}
