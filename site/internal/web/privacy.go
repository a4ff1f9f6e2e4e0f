package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"heartline/agent/watcher"
	"heartline/protocol/privacy"
	"heartline/site/internal/auth"
	"heartline/site/internal/live"
	"heartline/site/internal/members"
)

// Presence privacy on the site's surfaces (pages, SSE, JSON API): every one asks
// visibility.Policy for the viewer's bases and privacy.Allowed (through the privacy view)
// before it shows anything, and shows others the coarse view only.

// identify resolves the viewer of an SSE request (live.Identify).
func (s *Server) identify(r *http.Request, ids []uint64) (live.Viewer, error) {
	v := live.Viewer{Addr: auth.AddrKey(s.clientIP(r))}
	m := s.currentUser(r)
	if m == nil {
		return v, nil
	}
	bases, issued, err := s.o.Privacy.Bases(r.Context(), m.ID, ids)
	if err != nil {
		return v, err
	}
	v.ID, v.Basis, v.IssuedMS = m.ID, bases, issued
	return v, nil
}

// viewsFor returns what viewer may see of each of ids: the member's own detail, the coarse
// view, or hidden (exactly like an offline member not seen for a week).
func (s *Server) viewsFor(ctx context.Context, viewer uint64, ids []uint64) (map[uint64]watcher.Presence, map[uint64]bool, error) {
	bases, issued, err := s.o.Privacy.Bases(ctx, viewer, ids)
	if err != nil {
		return nil, nil, err
	}
	ps := make(map[uint64]watcher.Presence, len(ids))
	allowed := make(map[uint64]bool, len(ids))
	for _, u := range ids {
		ps[u] = s.o.Presence.Lookup(u)
		allowed[u] = s.o.Privacy.Sees(viewer, u, bases[u], issued)
	}
	return ps, allowed, nil
}

// seenText is the card's text for a member: "在线", or how recently they were active.
func seenText(p watcher.Presence, self, allowed bool, now time.Time) (online bool, lastSeen int64, text string) {
	switch {
	case !allowed:
		return false, 0, "离线"
	case self:
		if p.Online {
			return true, 0, "在线"
		}
		return false, p.LastSeen, LastSeenText(p.LastSeen, now)
	case p.Online:
		return true, 0, "在线"
	}
	return false, 0, RecencyText(privacy.RecencyOf(p.LastSeen, now))
}

// RecencyText is the coarse "recently active" text others see; app.js has the same words.
func RecencyText(r privacy.Recency) string {
	switch r {
	case privacy.RecencyToday:
		return "今天来过"
	case privacy.RecencyWeek:
		return "本周来过"
	}
	return "离线"
}

// bearerOrCookie is the member of an API request: a session token in
// "Authorization: Bearer" (apps: the api_token of POST /api/session) or the session cookie.
func (s *Server) apiMember(r *http.Request) *members.Member {
	tok, err := s.o.Keys.Bearer(r)
	if err != nil {
		return s.currentUser(r)
	}
	m, err := s.o.Store.SessionMember(r.Context(), tok)
	if err != nil {
		return nil
	}
	return m
}

// apiPresence answers GET /api/presence?ids=… for a signed-in member: each id as the member
// may see it.
func (s *Server) apiPresence(w http.ResponseWriter, r *http.Request) {
	m := s.apiMember(r)
	if m == nil {
		writeJSONError(w, http.StatusUnauthorized, "login_required", "presence is for signed-in members: send Authorization: Bearer <api_token from POST /api/session>, or log in")
		return
	}
	raw := r.URL.Query().Get("ids")
	if raw == "" {
		writeJSONError(w, http.StatusBadRequest, "missing_ids", fmt.Sprintf("pass ?ids=1,2,3 (at most %d member ids)", maxPresenceIDs))
		return
	}
	ids, err := live.ParseIDs(raw, maxPresenceIDs)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_ids", err.Error())
		return
	}
	ps, allowed, err := s.viewsFor(r.Context(), m.ID, ids)
	if err != nil {
		s.o.Log.Error("site: presence privacy", zap.Error(err))
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the member database is unavailable; retry shortly")
		return
	}
	now := s.o.Now()
	out := PresenceResponse{ServerMS: now.UnixMilli(), Presence: make([]json.RawMessage, 0, len(ids))}
	for _, id := range ids {
		b, _ := json.Marshal(live.ViewOf(ps[id], m.ID, allowed[id], now))
		out.Presence = append(out.Presence, b)
	}
	writeJSON(w, http.StatusOK, out)
}

// GrantRequest is the body of POST /api/grant.
type GrantRequest struct {
	IDs []uint64 `json:"ids"`
}

// GrantResponse carries a sealed grant for the gateway's GRANT frame (PROTOCOL.md).
type GrantResponse struct {
	Grant     string    `json:"grant"` // base64url, opaque to apps
	ExpiresAt time.Time `json:"expires_at"`
}

// apiGrant answers POST /api/grant: a grant for the app's member to subscribe to ids at a
// gateway. Every id gets an entry (a member who blocks the viewer too, sealed so the app
// cannot tell), so the grant says nothing the viewer may not know.
func (s *Server) apiGrant(w http.ResponseWriter, r *http.Request) {
	m := s.apiMember(r)
	if m == nil {
		writeJSONError(w, http.StatusUnauthorized, "login_required", "send Authorization: Bearer <api_token from POST /api/session>")
		return
	}
	var req GrantRequest
	if !decodeJSON(w, r, &req, `{"ids":[…member ids…]}`) {
		return
	}
	if len(req.IDs) == 0 || len(req.IDs) > privacy.MaxGrantSubjects {
		writeJSONError(w, http.StatusBadRequest, "bad_ids", fmt.Sprintf("ask for 1..%d member ids per grant", privacy.MaxGrantSubjects))
		return
	}
	for _, id := range req.IDs {
		if id == 0 {
			writeJSONError(w, http.StatusBadRequest, "bad_ids", "member ids are positive integers")
			return
		}
	}
	sealed, exp, err := s.o.Privacy.Grant(r.Context(), m.ID, req.IDs)
	if err != nil {
		s.o.Log.Warn("site: sealing a grant", zap.Error(err))
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "cannot issue a grant right now (key file or database); retry shortly")
		return
	}
	writeJSON(w, http.StatusOK, GrantResponse{Grant: base64.RawURLEncoding.EncodeToString(sealed), ExpiresAt: exp.UTC()})
}

// setVisibility handles POST /account/visibility (mode: members, matches, nobody).
func (s *Server) setVisibility(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	m, _ := s.requireUser(w, r)
	if m == nil {
		return
	}
	mode, ok := privacy.ParseMode(r.PostForm.Get("visibility"))
	if !ok {
		s.errorPage(w, r, http.StatusBadRequest, "设置无效", "请选择：所有会员 / 仅配对 / 隐身。")
		return
	}
	if err := s.o.Privacy.SetMode(r.Context(), m.ID, mode); err != nil {
		s.o.Log.Error("site: setting visibility", zap.Error(err))
		s.errorPage(w, r, http.StatusServiceUnavailable, "设置失败", "暂时无法保存在线状态设置，请稍后再试。")
		return
	}
	http.Redirect(w, r, "/account?saved=visibility", http.StatusSeeOther)
}

// block handles POST /block (member_id): the member blocked sees the viewer offline, for ever.
func (s *Server) block(w http.ResponseWriter, r *http.Request) {
	m, id, ok := s.memberForm(w, r, "没有指定要屏蔽的会员，请返回列表重试。", "不能屏蔽自己。")
	if !ok {
		return
	}
	if err := s.o.Privacy.Block(r.Context(), m.ID, id); err != nil {
		s.o.Log.Error("site: block", zap.Error(err))
		s.errorPage(w, r, http.StatusServiceUnavailable, "操作失败", "暂时无法屏蔽，请稍后再试。")
		return
	}
	http.Redirect(w, r, localPath(r.PostForm.Get("back")), http.StatusSeeOther)
}

// decodeJSON reads a bounded JSON body into v; on failure it has answered.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=utf-8" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "bad_content_type", "send JSON with Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody*4))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_json", "body must be "+shape+": "+err.Error())
		return false
	}
	if dec.More() {
		writeJSONError(w, http.StatusBadRequest, "bad_json", "trailing data after the JSON object")
		return false
	}
	return true
}
