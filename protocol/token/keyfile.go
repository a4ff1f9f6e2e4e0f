package token

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Key file format (LoadKeyRing, ParseKeyRing), UTF-8 text, one key per line:
//
//	# comments and blank lines are ignored
//	<key_id> <hex_secret> [current]
//
// key_id is a decimal integer 0..65535; hex_secret is at least 64 hex digits (32 bytes),
// e.g. from `openssl rand -hex 32`. The line marked `current` is the key Issue signs with;
// when no line is marked, the first key is current. At most one line may be marked.
// Example:
//
//	# rotated 2025-06-01: 2 is new, 1 stays until the last 30-day token under it expires
//	1 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	2 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752 current
//
// The file holds cluster secrets: keep it readable by the service user only.

// maxKeyFileSize bounds how much of a key file is read (a key file is a few lines).
const maxKeyFileSize = 1 << 20

// LoadKeyRing reads a key file (format above). Errors name the file and line.
func LoadKeyRing(path string) (*KeyRing, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token: open key file: %w (pass the path of a file of `<key_id> <hex_secret> [current]` lines)", err)
	}
	defer f.Close()
	r, err := ParseKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("token: key file %s: %w", path, err)
	}
	return r, nil
}

// ParseKeyRing reads the key file format from r.
func ParseKeyRing(r io.Reader) (*KeyRing, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("larger than %d bytes: this is not a key file", maxKeyFileSize)
	}
	ring := NewKeyRing()
	var first, marked uint16
	haveFirst, haveMarked := false, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFileSize)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 || len(fields) > 3 || (len(fields) == 3 && fields[2] != "current") {
			return nil, fmt.Errorf("line %d: want `<key_id> <hex_secret> [current]`, got %d fields", line, len(fields))
		}
		id64, err := strconv.ParseUint(fields[0], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("line %d: key id %q is not a decimal number in 0..65535", line, fields[0])
		}
		id := uint16(id64)
		secret, err := hex.DecodeString(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d (key id %d): secret is not valid hex: %v", line, id, err)
		}
		if err := ring.Add(id, secret); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if !haveFirst {
			first, haveFirst = id, true
		}
		if len(fields) == 3 {
			if haveMarked {
				return nil, fmt.Errorf("line %d: key id %d marked current, but key id %d already is: mark exactly one line", line, id, marked)
			}
			marked, haveMarked = id, true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if !haveFirst {
		return nil, fmt.Errorf("no keys: add a line `<key_id> <hex_secret>` (secret: `openssl rand -hex 32`)")
	}
	cur := first
	if haveMarked {
		cur = marked
	}
	if err := ring.SetCurrent(cur); err != nil {
		return nil, err
	}
	return ring, nil
}
