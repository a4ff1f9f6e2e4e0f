package presencekv

import (
	"encoding/json"
	"fmt"
)

// ConfigVersion is the layout version written into Config.
const ConfigVersion = 1

// Config is the per-cluster value at <prefix>/config. It is created once with CAS
// (ModifyIndex 0) and never rewritten: changing Buckets would move every user.
type Config struct {
	Version int    `json:"version"`
	Buckets uint32 `json:"buckets"`
}

// EncodeConfig returns the JSON value of c.
func EncodeConfig(c Config) []byte {
	b, _ := json.Marshal(c)
	return b
}

// DecodeConfig parses and validates a Config value.
func DecodeConfig(b []byte) (Config, error) {
	var c Config
	if len(b) > 4096 {
		return c, fmt.Errorf("presencekv: config value of %d bytes is too large to be a Heartline config", len(b))
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("presencekv: config value is not valid JSON: %w", err)
	}
	if c.Version != ConfigVersion {
		return c, fmt.Errorf("presencekv: config layout version %d, this build understands %d", c.Version, ConfigVersion)
	}
	if err := ValidateBuckets(c.Buckets); err != nil {
		return c, err
	}
	return c, nil
}
