package web

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/token"
	"heartline/site/internal/catalog"
)

// maxAPIBody bounds a JSON request body.
const maxAPIBody = 4 << 10

// maxPresenceIDs bounds GET /api/presence.
const maxPresenceIDs = 200

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

// writeJSONError answers {"error":{"code":…,"message":…}}; message says what to do.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

// SessionRequest is the body of POST /api/session.
type SessionRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// DeviceID identifies the app installation (any non-zero uint32 the app keeps); 0: the
	// site picks a random one and returns it.
	DeviceID uint32 `json:"device_id"`
}

// SessionResponse is what an app needs to heartbeat (see protocol/client.Credentials).
type SessionResponse struct {
	UserID     uint64            `json:"user_id"`
	DeviceID   uint32            `json:"device_id"`
	Token      string            `json:"token"`       // base64url, 58 characters
	SessionKey string            `json:"session_key"` // base64url of the 16-byte heartbeat key
	ExpiresAt  time.Time         `json:"expires_at"`
	IntervalS  int               `json:"interval_s"`
	Gateways   []catalog.Gateway `json:"gateways"`
	// APIToken authenticates the app's further calls (GET /api/presence, POST /api/grant)
	// as "Authorization: Bearer <api_token>": a site session, ended by logout everywhere.
	APIToken string `json:"api_token"`
}

func (s *Server) apiSession(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "bad_content_type", "send the login as JSON with Content-Type: application/json")
		return
	}
	var req SessionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_json", fmt.Sprintf(`body must be {"email":…,"password":…,"device_id":…} (at most %d bytes): %v`, maxAPIBody, err))
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeJSONError(w, http.StatusBadRequest, "bad_json", "trailing data after the JSON object")
		return
	}
	if strings.TrimSpace(req.Email) == "" || req.Password == "" {
		writeJSONError(w, http.StatusBadRequest, "missing_credentials", "email and password are required")
		return
	}
	if s.o.KeyRing == nil {
		writeJSONError(w, http.StatusServiceUnavailable, "no_key_file", "this site has no heartbeat key file configured (-key-file); apps cannot log in")
		return
	}
	m, err := s.authenticate(r.Context(), s.clientIP(r), req.Email, req.Password)
	s.m.logins.WithLabelValues("api", loginResult(err)).Inc()
	var lim errLimited
	switch {
	case errors.As(err, &lim):
		w.Header().Set("Retry-After", retryAfter(lim.wait))
		writeJSONError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("too many login attempts; retry after %s", retryAfter(lim.wait)+"s"))
		return
	case errors.Is(err, errUnverified):
		writeJSONError(w, http.StatusForbidden, "unverified", "verify the e-mail address first: open the link in the verification mail")
		return
	case errors.Is(err, errBadLogin):
		writeJSONError(w, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		return
	case err != nil:
		s.o.Log.Error("site: api login", zap.Error(err))
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the member database is unavailable; retry shortly")
		return
	}
	dev := req.DeviceID
	for dev == 0 {
		var b [4]byte
		rand.Read(b[:]) //nolint:errcheck // never fails
		dev = binary.BigEndian.Uint32(b[:])
	}
	now := s.o.Now()
	exp := now.Add(s.o.TokenTTL).Truncate(time.Second)
	tok, key, err := s.o.KeyRing.Issue(token.Claims{UserID: m.ID, DeviceID: dev, Expiry: exp})
	if err != nil {
		s.o.Log.Error("site: issuing token", zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "issue_failed", "could not issue a heartbeat token: "+err.Error())
		return
	}
	gws := []catalog.Gateway{}
	if s.o.Gateways != nil {
		g, err := s.o.Gateways.Gateways(r.Context())
		if err != nil {
			s.o.Log.Warn("site: listing gateways", zap.Error(err))
			writeJSONError(w, http.StatusServiceUnavailable, "no_gateways", "cannot list gateways from Consul right now; retry shortly")
			return
		}
		gws = g
	}
	if len(gws) == 0 {
		s.o.Log.Warn("site: login while no gateway is healthy", zap.Uint64("user", m.ID))
	}
	apiTok, _, err := s.o.Store.CreateSession(r.Context(), m.ID, s.o.Keys.SessionTTL)
	if err != nil {
		s.o.Log.Error("site: creating an API session", zap.Error(err))
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the member database is unavailable; retry shortly")
		return
	}
	s.m.sessions.Inc()
	writeJSON(w, http.StatusOK, SessionResponse{UserID: m.ID, DeviceID: dev, Token: tok.String(),
		SessionKey: base64.RawURLEncoding.EncodeToString(key[:]), ExpiresAt: exp.UTC(), IntervalS: int(s.o.Interval / time.Second), Gateways: gws,
		APIToken: s.o.Keys.SessionValue(apiTok)})
}

// PresenceResponse is the body of GET /api/presence.
type PresenceResponse struct {
	ServerMS int64             `json:"server_ms"`
	Presence []json.RawMessage `json:"presence"`
}
