package consulwriter

import (
	"errors"
	"fmt"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
)

// ErrBucketMismatch: the cluster's config names another bucket count than this agent's
// -buckets. Retrying cannot fix it; the error that wraps it says which count to use.
var ErrBucketMismatch = errors.New("bucket count differs from the cluster's")

// EnsureConfig returns the cluster's Config, creating it with buckets when it does not
// exist yet (CAS on ModifyIndex 0, so two agents starting at once agree on one value).
// A cluster created with a different bucket count is an error: moving every user to a new
// bucket is not something an agent may do on its own.
func EnsureConfig(c *api.Client, prefix string, buckets uint32) (presencekv.Config, error) {
	want := presencekv.Config{Version: presencekv.ConfigVersion, Buckets: buckets}
	key := presencekv.ConfigKey(prefix)
	for attempt := 0; attempt < 3; attempt++ {
		pair, _, err := c.KV().Get(key, &api.QueryOptions{RequireConsistent: true})
		if err != nil {
			return want, fmt.Errorf("reading %s from Consul: %w", key, err)
		}
		if pair != nil {
			got, err := presencekv.DecodeConfig(pair.Value)
			if err != nil {
				return got, fmt.Errorf("%s: %w", key, err)
			}
			if got.Buckets != buckets {
				return got, fmt.Errorf("%w: cluster config %s says %d buckets but this agent was started with -buckets=%d; "+
					"start it with -buckets=%d (the bucket count is fixed per cluster)", ErrBucketMismatch, key, got.Buckets, buckets, got.Buckets)
			}
			return got, nil
		}
		ok, _, err := c.KV().CAS(&api.KVPair{Key: key, Value: presencekv.EncodeConfig(want), ModifyIndex: 0}, nil)
		if err != nil {
			return want, fmt.Errorf("creating %s in Consul: %w", key, err)
		}
		if ok {
			return want, nil
		}
	}
	return want, fmt.Errorf("could not create or read %s after 3 attempts", key)
}
