package consulwriter

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"
)

// txnResult is what one Consul transaction came to.
type txnResult struct {
	// committed: Consul applied every op; index then holds the ModifyIndex of every key the
	// transaction wrote. Otherwise it was rolled back and errors says which ops failed why.
	committed bool
	index     map[string]uint64
	errors    api.TxnErrors
}

// runTxn runs one transaction and does what every transaction of the writer shares: the
// latency and outcome metrics, on commit the op and byte metrics (bytes is the caller's
// estimate of the values written) and the ModifyIndex of each written key. An error is a
// transport failure: the outcome is unknown, and the caller must treat it as possibly
// committed.
func (w *Writer) runTxn(ctx context.Context, txn api.TxnOps, bytes int) (txnResult, error) {
	m := w.o.Metrics
	start := time.Now()
	ok, resp, _, err := w.o.Client.Txn().Txn(txn, (&api.QueryOptions{}).WithContext(ctx))
	m.TxnSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		m.Txns.WithLabelValues("error").Inc()
		return txnResult{}, err
	}
	if !ok {
		m.Txns.WithLabelValues("rolled_back").Inc()
		return txnResult{errors: resp.Errors}, nil
	}
	m.Txns.WithLabelValues("ok").Inc()
	m.TxnOps.Observe(float64(len(txn)))
	m.TxnBytes.Add(float64(bytes))
	index := make(map[string]uint64, len(resp.Results))
	for _, r := range resp.Results {
		if r.KV != nil {
			index[r.KV.Key] = r.KV.ModifyIndex
		}
	}
	return txnResult{committed: true, index: index}, nil
}
