package consulwriter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"heartline/agent/internal/metrics"
)

// runTxn is the one transaction step of presence and last-seen writes: outcome metrics and,
// on commit, each written key's ModifyIndex; on rollback, Consul's per-op errors.
func TestRunTxnReportsCommitRollbackAndTransportError(t *testing.T) {
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status == 0 {
			http.Error(w, "boom", http.StatusInternalServerError) // not a transaction answer
			return
		}
		w.WriteHeader(status)
		if status == http.StatusOK {
			json.NewEncoder(w).Encode(api.TxnResponse{Results: api.TxnResults{{KV: &api.KVPair{Key: "a", ModifyIndex: 7}}, {KV: &api.KVPair{Key: "b", ModifyIndex: 7}}}}) //nolint:errcheck
			return
		}
		json.NewEncoder(w).Encode(api.TxnResponse{Errors: api.TxnErrors{{OpIndex: 1, What: "lock is already held"}}}) //nolint:errcheck
	}))
	defer srv.Close()
	c, err := api.NewClient(&api.Config{Address: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(nil)
	w := &Writer{o: Options{Client: c, Metrics: m}}
	ops := api.TxnOps{{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "a"}}, {KV: &api.KVTxnOp{Verb: api.KVSet, Key: "b"}}}

	status = http.StatusOK
	res, err := w.runTxn(context.Background(), ops, 300)
	if err != nil || !res.committed || res.index["a"] != 7 || res.index["b"] != 7 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	status = http.StatusConflict
	res, err = w.runTxn(context.Background(), ops, 300)
	if err != nil || res.committed || len(res.errors) != 1 || res.errors[0].OpIndex != 1 {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	status = 0
	if _, err = w.runTxn(context.Background(), ops, 300); err == nil {
		t.Fatal("a failed request reported no error")
	}
	for label, want := range map[string]float64{"ok": 1, "rolled_back": 1, "error": 1} {
		if got := testutil.ToFloat64(m.Txns.WithLabelValues(label)); got != want {
			t.Errorf("txns{%s} = %v, want %v", label, got, want)
		}
	}
	if got := testutil.ToFloat64(m.TxnBytes); got != 300 {
		t.Errorf("txn bytes %v, want 300 (only the committed transaction counts)", got)
	}
}
