package queryapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/watcher"
	"heartline/protocol/presencekv"
)

// MaxBatch is the most user ids one batch request may ask for.
const MaxBatch = 1000

// Options configure the handler.
type Options struct {
	Watcher *watcher.Watcher
	Client  *api.Client // for ?consistent=1
	Prefix  string
	// Ready returns nil when the agent can serve and write (watcher synced, session held,
	// feed synced), or the reason it cannot.
	Ready   func() error
	Metrics http.Handler // /metrics; nil: not served
	Log     *zap.Logger
}

type server struct{ o Options }

// Handler returns the agent's HTTP handler.
func Handler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	s := &server{o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/presence/{user}", s.presence)
	mux.HandleFunc("POST /v1/presence/batch", s.batch)
	mux.HandleFunc("GET /v1/stats", s.stats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s; see GET /v1/presence/{user}, POST /v1/presence/batch, GET /v1/stats", r.Method, r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func parseUser(s string) (uint64, error) {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("user id %q is not an unsigned decimal integer", s)
	}
	return u, nil
}

func consistent(r *http.Request) bool {
	v := r.URL.Query().Get("consistent")
	return v == "1" || v == "true"
}

func (s *server) presence(w http.ResponseWriter, r *http.Request) {
	user, err := parseUser(r.PathValue("user"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out, code, err := s.lookup(r, []uint64{user})
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}

type batchRequest struct {
	Users []uint64 `json:"users"`
}

func (s *server) batch(w http.ResponseWriter, r *http.Request) {
	var req batchRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be JSON {"users":[<uint64>,...]} of at most 64 KiB: `+err.Error())
		return
	}
	if len(req.Users) == 0 {
		writeError(w, http.StatusBadRequest, `"users" is empty; send 1..1000 user ids`)
		return
	}
	if len(req.Users) > MaxBatch {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%d user ids in one batch; send at most %d per request", len(req.Users), MaxBatch))
		return
	}
	out, code, err := s.lookup(r, req.Users)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"presence": out})
}

func (s *server) lookup(r *http.Request, users []uint64) ([]watcher.Presence, int, error) {
	if consistent(r) {
		out, err := s.readConsul(r, users)
		if err != nil {
			return nil, http.StatusBadGateway, fmt.Errorf("consistent read from Consul failed (retry, or drop ?consistent=1 to read the cache): %w", err)
		}
		return out, 0, nil
	}
	if !s.o.Watcher.Ready() {
		return nil, http.StatusServiceUnavailable, errors.New("the presence cache is still loading from Consul; retry shortly or use ?consistent=1")
	}
	out := make([]watcher.Presence, len(users))
	for i, u := range users {
		out[i] = s.o.Watcher.Lookup(u)
	}
	return out, 0, nil
}

// readConsul builds presence straight from the bucket and last-seen keys, one consistent
// read per bucket involved.
func (s *server) readConsul(r *http.Request, users []uint64) ([]watcher.Presence, error) {
	n := s.o.Watcher.Buckets()
	if n == 0 {
		return nil, errors.New("bucket count unknown yet (the watcher has not read the cluster config)")
	}
	q := (&api.QueryOptions{RequireConsistent: true}).WithContext(r.Context())
	buckets := map[uint32]bool{}
	for _, u := range users {
		buckets[presencekv.Bucket(u, n)] = true
	}
	var presence api.KVPairs
	var lastSeen []*api.KVPair
	for b := range buckets {
		pairs, _, err := s.o.Client.KV().List(presencekv.PresenceBucketPrefix(s.o.Prefix, b), q)
		if err != nil {
			return nil, err
		}
		presence = append(presence, pairs...)
		p, _, err := s.o.Client.KV().Get(presencekv.LastSeenKey(s.o.Prefix, b), q)
		if err != nil {
			return nil, err
		}
		lastSeen = append(lastSeen, p)
	}
	return watcher.PresenceFromKV(s.o.Prefix, presence, lastSeen, users)
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	st := s.o.Watcher.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"online_users":    st.OnlineUsers,
		"online_sessions": st.OnlineDevices,
		"consul_index":    st.Index,
		"ready":           s.o.Watcher.Ready(),
		"watcher": map[string]uint64{
			"events": st.Events, "transitions": st.Transitions, "change_bytes": st.ChangeBytes,
			"resyncs": st.Resyncs, "decode_errors": st.DecodeErrors,
		},
	})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.o.Ready != nil {
		if err := s.o.Ready(); err != nil {
			writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
