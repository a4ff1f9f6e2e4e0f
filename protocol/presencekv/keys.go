package presencekv

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxGatewayID bounds gateway ids (they are KV path segments).
const MaxGatewayID = 128

// ValidateGatewayID says what is wrong with a gateway id, or nil. Ids are path segments of
// KV keys, so only [A-Za-z0-9._-] are allowed.
func ValidateGatewayID(id string) error {
	if id == "" || len(id) > MaxGatewayID {
		return fmt.Errorf("presencekv: gateway id %q must be 1..%d bytes", id, MaxGatewayID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("presencekv: gateway id %q has %q; use only letters, digits, '.', '_' and '-'", id, c)
		}
	}
	return nil
}

// ValidatePrefix says what is wrong with a KV prefix, or nil.
func ValidatePrefix(prefix string) error {
	if prefix == "" || strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("presencekv: KV prefix %q must be non-empty without leading or trailing '/'", prefix)
	}
	return nil
}

// ConfigKey is the key of the cluster's Config.
func ConfigKey(prefix string) string { return prefix + "/config" }

// PresencePrefix is the prefix of all bucket keys.
func PresencePrefix(prefix string) string { return prefix + "/presence/" }

// PresenceBucketPrefix is the prefix of one bucket's keys (one per gateway).
func PresenceBucketPrefix(prefix string, bucket uint32) string {
	return fmt.Sprintf("%s/presence/%05d/", prefix, bucket)
}

// PresenceKey is the key of one bucket's sessions on one gateway.
func PresenceKey(prefix string, bucket uint32, gateway string) string {
	return fmt.Sprintf("%s/presence/%05d/%s", prefix, bucket, gateway)
}

// LastSeenPrefix is the prefix of all last-seen keys.
func LastSeenPrefix(prefix string) string { return prefix + "/lastseen/" }

// LastSeenKey is the key of one bucket's last-seen entries.
func LastSeenKey(prefix string, bucket uint32) string {
	return fmt.Sprintf("%s/lastseen/%05d", prefix, bucket)
}

// ChangesPrefix is the prefix watchers block on.
func ChangesPrefix(prefix string) string { return prefix + "/changes/" }

// ChangesKey is the change-record key of one writer lane of one gateway.
func ChangesKey(prefix, gateway string, lane int) string {
	return fmt.Sprintf("%s/changes/%s/%d", prefix, gateway, lane)
}

// ParsePresenceKey splits a full presence key into bucket and gateway id.
func ParsePresenceKey(prefix, key string) (bucket uint32, gateway string, ok bool) {
	rest, found := strings.CutPrefix(key, PresencePrefix(prefix))
	if !found {
		return 0, "", false
	}
	b, gw, found := strings.Cut(rest, "/")
	if !found || ValidateGatewayID(gw) != nil {
		return 0, "", false
	}
	n, err := strconv.ParseUint(b, 10, 32)
	if err != nil || n >= MaxBuckets {
		return 0, "", false
	}
	return uint32(n), gw, true
}

// ParseLastSeenKey returns the bucket of a full last-seen key.
func ParseLastSeenKey(prefix, key string) (bucket uint32, ok bool) {
	rest, found := strings.CutPrefix(key, LastSeenPrefix(prefix))
	if !found {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 32)
	if err != nil || n >= MaxBuckets {
		return 0, false
	}
	return uint32(n), true
}

// ParseChangesKey splits a full change-record key into gateway id and lane.
func ParseChangesKey(prefix, key string) (gateway string, lane int, ok bool) {
	rest, found := strings.CutPrefix(key, ChangesPrefix(prefix))
	if !found {
		return "", 0, false
	}
	gw, l, found := strings.Cut(rest, "/")
	if !found || ValidateGatewayID(gw) != nil {
		return "", 0, false
	}
	n, err := strconv.ParseUint(l, 10, 16)
	if err != nil {
		return "", 0, false
	}
	return gw, int(n), true
}
