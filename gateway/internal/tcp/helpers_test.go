package tcp

import (
	"heartline/gateway/internal/ingest"
	"heartline/protocol/token"
)

func ingestOpts(keys *token.KeyRing) ingest.HandlerOptions {
	return ingest.HandlerOptions{Keys: keys, Epoch: 3}
}
