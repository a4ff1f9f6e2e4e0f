package watcher

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
)

// CompareDevices is the order of a Presence's devices: by device id, then by gateway. It is
// a total order (0 only for equal keys), as slices.SortFunc requires.
func CompareDevices(a, b Device) int {
	return cmp.Or(cmp.Compare(a.Device, b.Device), strings.Compare(a.Gateway, b.Gateway))
}

// decodePresencePair decodes one presence key (prefix/presence/<bucket>/<gateway>) and its
// sessions; ok is false for a key that is not a presence key.
func decodePresencePair(codec *presencekv.Codec, prefix string, p *api.KVPair) (bucket uint32, gateway string, sessions []presencekv.Session, ok bool, err error) {
	bucket, gateway, ok = presencekv.ParsePresenceKey(prefix, p.Key)
	if !ok {
		return 0, "", nil, false, nil
	}
	sessions, err = codec.DecodeSessions(nil, p.Value)
	return bucket, gateway, sessions, true, err
}

// PresenceFromKV is the presence of users as one read of Consul KV shows it, decoded and
// shaped exactly as the watcher's cache shows presence (Lookup): presence holds the presence
// keys of the users' buckets, lastSeen their buckets' last-seen values (nil entries are
// skipped). A device's Version is its key's ModifyIndex. A value that does not decode is an
// error naming its key. For callers that need a consistent read instead of the cache (the
// agent's query API).
func PresenceFromKV(prefix string, presence api.KVPairs, lastSeen []*api.KVPair, users []uint64) ([]Presence, error) {
	byUser := make(map[uint64]*Presence, len(users))
	for _, u := range users {
		byUser[u] = &Presence{User: u, Devices: []Device{}}
	}
	var codec presencekv.Codec
	for _, p := range presence {
		_, gw, sessions, ok, err := decodePresencePair(&codec, prefix, p)
		if !ok {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Key, err)
		}
		for _, s := range sessions {
			if pr := byUser[s.User]; pr != nil {
				pr.Devices = append(pr.Devices, Device{Device: s.Device, Gateway: gw, Status: s.Status, Since: s.Since, Version: p.ModifyIndex})
				pr.Online = true
				pr.Status = max(pr.Status, s.Status)
			}
		}
	}
	for _, p := range lastSeen {
		if p == nil {
			continue
		}
		entries, err := codec.DecodeLastSeen(nil, p.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Key, err)
		}
		for _, e := range entries {
			if pr := byUser[e.User]; pr != nil {
				pr.LastSeen = e.At
			}
		}
	}
	out := make([]Presence, len(users))
	for i, u := range users {
		pr := byUser[u]
		slices.SortFunc(pr.Devices, CompareDevices)
		out[i] = *pr
	}
	return out, nil
}
