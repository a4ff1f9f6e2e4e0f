package token

import (
	"encoding/binary"
	"time"
)

// Precheck runs the checks of Verify that cost no MAC, in this order: length and version
// (ErrMalformed), key id known (ErrUnknownKey), expiry (ErrExpired). A gateway runs it
// before it spends its per-loop HELLO budget, so a flood of junk or stale tokens cannot use
// that budget up; a token that passes still needs Verify or Open. It reads the expiry field
// before authenticating it, so a drop it causes may be labelled token_expired where Verify
// would say token_bad_mac: nothing is answered either way, so the sender learns nothing.
// Allocation-free.
func (r *KeyRing) Precheck(b []byte, now time.Time) error {
	if len(b) != Size || b[0] != Version {
		return ErrMalformed
	}
	if _, ok := r.load().keys[binary.BigEndian.Uint16(b[1:3])]; !ok {
		return ErrUnknownKey
	}
	if now.Unix() >= int64(binary.BigEndian.Uint32(b[15:19])) {
		return ErrExpired
	}
	return nil
}
