package watcher

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
)

func TestCompareDevicesIsATotalOrder(t *testing.T) {
	ds := []Device{{Device: 1, Gateway: "a"}, {Device: 1, Gateway: "b"}, {Device: 2, Gateway: "a"}}
	for i, a := range ds {
		for j, b := range ds {
			got := CompareDevices(a, b)
			want := map[bool]int{true: -1, false: 1}[i < j]
			if i == j {
				want = 0 // the query API's comparator answered 1 here
			}
			if got != want {
				t.Errorf("CompareDevices(%v, %v) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// A consistent read decoded by PresenceFromKV shows what the cache shows for the same keys.
func TestPresenceFromKVMatchesTheCache(t *testing.T) {
	const prefix, buckets = "hlr", 16
	var codec presencekv.Codec
	gws := map[string][]presencekv.Session{
		"gw-b": {{User: 7, Device: 1, Status: StatusActive, Since: 100}, {User: 9, Device: 3, Status: 1, Since: 50}},
		"gw-a": {{User: 7, Device: 1, Status: 1, Since: 90}, {User: 7, Device: 0, Status: 1, Since: 80}},
	}
	cache := NewCache()
	var pairs api.KVPairs
	index := uint64(10)
	for gw, ss := range gws {
		index++
		for _, s := range ss {
			v, err := codec.AppendSessions(nil, []presencekv.Session{s})
			if err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, &api.KVPair{Key: presencekv.PresenceKey(prefix, presencekv.Bucket(s.User, buckets), gw), Value: v, ModifyIndex: index})
			cache.Apply(Update{Gateway: gw, User: s.User, Device: s.Device, Online: true, Status: s.Status, At: s.Since, Version: index})
		}
	}
	ls, err := codec.AppendLastSeen(nil, []presencekv.LastSeen{{User: 8, At: 12345}})
	if err != nil {
		t.Fatal(err)
	}
	cache.SetLastSeen(8, 12345)
	users := []uint64{7, 8, 9}
	got, err := PresenceFromKV(prefix, pairs, []*api.KVPair{nil, {Key: presencekv.LastSeenKey(prefix, 0), Value: ls}}, users)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		if want := cache.Lookup(u); !reflect.DeepEqual(got[i], want) {
			t.Errorf("user %d: read %+v, cache %+v", u, got[i], want)
		}
	}
	pairs = append(pairs, &api.KVPair{Key: presencekv.PresenceKey(prefix, 3, "gw-c"), Value: []byte{0xff, 0xff}})
	if _, err := PresenceFromKV(prefix, pairs, nil, users); err == nil || !strings.Contains(err.Error(), "gw-c") {
		t.Fatalf("undecodable value: %v; want an error naming its key", err)
	}
}
