package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"heartline/gateway/internal/ingest"
)

// Server is the admin HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *zap.Logger
}

// Listen binds addr and serves /healthz, /readyz (ready() decides), /metrics and, when drain
// is not nil, /drain.
//
// /healthz is what the agent registers as the gateway's Consul check. While the gateway
// drains it answers 429, which Consul records as "warning": the gateway leaves the passing
// list (the site stops handing it to apps) but its Consul session, tied to the check, lives
// on (only "critical" invalidates it), so its members stay shown online until they have
// moved. POST /drain starts a drain, DELETE /drain stops it, GET /drain reports it.
func Listen(addr string, m *Metrics, ready func() error, drain *ingest.Drain, log *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w (pick a free -admin-addr)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if drain.Active() {
			http.Error(w, "draining since "+drain.Since().UTC().Format(time.RFC3339), http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if drain != nil {
		mux.HandleFunc("/drain", func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodPost:
				if drain.Start(time.Now()) {
					log.Info("drain started by an admin request")
				}
			case http.MethodDelete:
				if drain.Stop() {
					log.Info("drain stopped by an admin request")
				}
			case http.MethodGet:
			default:
				w.Header().Set("Allow", "GET, POST, DELETE")
				http.Error(w, "use POST to start a drain, DELETE to stop it, GET to see it", http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			since := ""
			if drain.Active() {
				since = drain.Since().UTC().Format(time.RFC3339Nano)
			}
			_, _ = fmt.Fprintf(w, "{\"draining\":%t,\"since\":%q,\"sessions_online\":%d}\n", drain.Active(), since, m.online())
		})
	}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, log: log}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", zap.Error(err))
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close shuts the server down.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }
