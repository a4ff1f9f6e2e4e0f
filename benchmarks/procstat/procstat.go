// Package procstat reads what the benchmark harness measures about another process from
// /proc: CPU time (all threads), resident memory, and the kernel's UDP receive queue and
// drop counter of a port. It only reads /proc; it never signals or changes a process.
package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on Linux builds).
const clockTicks = 100

// CPUNanos returns the CPU time the process has used so far, in nanoseconds. It sums
// the first field of /proc/<pid>/task/*/schedstat (nanosecond precision, live threads) and
// takes the larger of that and utime+stime from /proc/<pid>/stat (10 ms ticks, includes
// exited threads), so neither a coarse tick nor an exited thread loses time.
func CPUNanos(pid int) (int64, error) {
	statNS, err := statCPU(pid)
	if err != nil {
		return 0, err
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // thread exited
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			sum += v
		}
	}
	// schedstat is precise; stat can only lag it by < 1 tick per thread unless threads exited.
	if statNS > sum+int64(len(tasks)+1)*1e9/clockTicks {
		return statNS, nil
	}
	if sum > 0 {
		return sum, nil
	}
	return statNS, nil
}

func statCPU(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w (is pid %d running?)", err, pid)
	}
	return ParseStatCPU(b)
}

// ParseStatCPU returns utime+stime in nanoseconds from the text of /proc/<pid>/stat.
func ParseStatCPU(b []byte) (int64, error) {
	// The command name (field 2) may contain spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: malformed stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': field 3 is f[0]; utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: stat line has %d fields after the name, want >= 13", len(f))
	}
	// utime and stime are unsigned clock ticks; a sign or a value whose nanoseconds do not fit
	// an int64 is not a kernel's.
	ut, err1 := strconv.ParseUint(f[11], 10, 63)
	st, err2 := strconv.ParseUint(f[12], 10, 63)
	const maxTicks = uint64(math.MaxInt64 / (1_000_000_000 / clockTicks))
	if err1 != nil || err2 != nil || ut > maxTicks || st > maxTicks-ut {
		return 0, fmt.Errorf("procstat: utime/stime not tick counts: %q %q", f[11], f[12])
	}
	return int64(ut+st) * (1e9 / clockTicks), nil
}

// RSSBytes returns VmRSS of the process in bytes.
func RSSBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w (is pid %d running?)", err, pid)
	}
	return ParseStatusKB(b, "VmRSS")
}

// ParseStatusKB returns the field (e.g. "VmRSS") of /proc/<pid>/status in bytes.
func ParseStatusKB(b []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		f := strings.Fields(line[len(field)+1:])
		if len(f) < 1 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: %s: %w", field, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("procstat: no %s line", field)
}

// UDPQueue is the kernel's view of the UDP sockets bound to one local port.
type UDPQueue struct {
	Sockets int    // sockets bound to the port (SO_REUSEPORT groups have several)
	RxBytes int64  // bytes waiting in their receive queues
	Drops   uint64 // datagrams dropped because a queue was full (cumulative)
}

// ReadUDPQueue sums /proc/net/udp and /proc/net/udp6 over the sockets bound to port.
func ReadUDPQueue(port uint16) (UDPQueue, error) {
	var q UDPQueue
	found := false
	for _, p := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		found = true
		part, err := ParseUDPTable(b, port)
		if err != nil {
			return q, err
		}
		q.Sockets += part.Sockets
		q.RxBytes += part.RxBytes
		q.Drops += part.Drops
	}
	if !found {
		return q, fmt.Errorf("procstat: /proc/net/udp not readable (Linux only)")
	}
	return q, nil
}

// ParseUDPTable parses the text of /proc/net/udp{,6} for sockets bound to port.
func ParseUDPTable(b []byte, port uint16) (UDPQueue, error) {
	var q UDPQueue
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		// sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
		if len(f) < 13 || !strings.HasSuffix(f[1], want) {
			continue
		}
		txrx := strings.SplitN(f[4], ":", 2)
		if len(txrx) != 2 {
			return q, fmt.Errorf("procstat: bad tx:rx field %q", f[4])
		}
		rx, err := strconv.ParseInt(txrx[1], 16, 64)
		if err != nil {
			return q, fmt.Errorf("procstat: bad rx_queue %q", txrx[1])
		}
		drops, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			return q, fmt.Errorf("procstat: bad drops %q", f[len(f)-1])
		}
		q.Sockets++
		q.RxBytes += rx
		q.Drops += drops
	}
	return q, nil
}
