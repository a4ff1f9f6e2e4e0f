package presencekv

import "fmt"

// MaxBuckets bounds the bucket count of a cluster (bucket numbers are 5 decimal digits).
const MaxBuckets = 65536

// DefaultBuckets is the bucket count a new cluster gets unless told otherwise. With ~10M
// members online it keeps a bucket value per gateway in the low kilobytes.
const DefaultBuckets = 4096

// Bucket returns the bucket of user for a cluster of n buckets (1 <= n <= MaxBuckets).
// The mix is the 64-bit finaliser of MurmurHash3: fixed, seedless and well spread, so the
// agent, the watcher and the site all agree. Changing it is a format change.
func Bucket(user uint64, n uint32) uint32 {
	x := user
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return uint32(x % uint64(n))
}

// ValidateBuckets says what is wrong with a bucket count, or nil.
func ValidateBuckets(n uint32) error {
	if n == 0 || n > MaxBuckets {
		return fmt.Errorf("presencekv: bucket count %d out of range; use 1..%d", n, MaxBuckets)
	}
	return nil
}
