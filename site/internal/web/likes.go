package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"heartline/site/internal/members"
	"heartline/site/internal/store"
)

// Likes and matches: a like that is returned is a match.

// like handles POST /likes (member_id, action like|unlike, back).
func (s *Server) like(w http.ResponseWriter, r *http.Request) {
	m, id, ok := s.memberForm(w, r, "没有指定要喜欢的会员，请返回列表重试。", "不能喜欢自己哦。")
	if !ok {
		return
	}
	var err error
	back := localPath(r.PostForm.Get("back"))
	switch r.PostForm.Get("action") {
	case "unlike":
		var wasMatch bool
		if wasMatch, err = s.o.Store.Likes(r.Context(), id, m.ID); err == nil {
			err = s.o.Store.Unlike(r.Context(), m.ID, id)
		}
		if err == nil && wasMatch {
			// A match ends: each loses what the match let them see of the other, at once.
			err = s.o.Privacy.Unmatched(r.Context(), m.ID, id)
		}
	case "like", "":
		var match bool
		match, err = s.o.Store.Like(r.Context(), m.ID, id)
		if err == nil && match {
			back = "/matches?new=" + strconv.FormatUint(id, 10)
		}
	default:
		s.errorPage(w, r, http.StatusBadRequest, "操作无效", "未知的操作，请返回列表重试。")
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		s.errorPage(w, r, http.StatusNotFound, "会员不存在", "这位会员不存在或已注销。")
		return
	}
	if err != nil {
		s.o.Log.Error("site: like", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "操作失败", "服务器暂时无法保存，请稍后再试。")
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// memberForm reads a signed-in member's form about another member (member_id): the viewer,
// the other member's id, and whether to go on; otherwise it has answered (missing: the
// message for a missing id, self: for one's own id).
func (s *Server) memberForm(w http.ResponseWriter, r *http.Request, missing, self string) (*members.Member, uint64, bool) {
	if !s.parseForm(w, r) {
		return nil, 0, false
	}
	m, _ := s.requireUser(w, r)
	if m == nil {
		return nil, 0, false
	}
	id, err := strconv.ParseUint(r.PostForm.Get("member_id"), 10, 63)
	if err != nil || id == 0 {
		s.errorPage(w, r, http.StatusBadRequest, "操作无效", missing)
		return nil, 0, false
	}
	if id == m.ID {
		s.errorPage(w, r, http.StatusBadRequest, "操作无效", self)
		return nil, 0, false
	}
	return m, id, true
}

// localPath keeps a redirect target on this site (a path, not "//host" or a URL).
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") || len(p) > 1000 {
		return "/members"
	}
	return p
}

type matchesData struct {
	Cards []card
	New   *members.Member
}

func (s *Server) matchesPage(w http.ResponseWriter, r *http.Request) {
	m, _ := s.requireUser(w, r)
	if m == nil {
		return
	}
	list, err := s.o.Store.Matches(r.Context(), m.ID, 200)
	if err != nil {
		s.o.Log.Error("site: reading matches", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "暂时无法加载", "数据库暂时不可用，请稍后刷新。")
		return
	}
	cards, ids := s.cards(r, m, list, s.o.Now())
	d := matchesData{Cards: cards}
	if v, err := strconv.ParseUint(r.URL.Query().Get("new"), 10, 63); err == nil {
		for _, c := range list {
			if c.ID == v {
				d.New = c
			}
		}
	}
	s.render(w, r, http.StatusOK, "matches", &page{Title: "我的配对", User: m, LiveIDs: ids, Data: d})
}

// outboxPage shows the newest mails (demo only: -dev-outbox), so a local demo can follow a
// verification link without a mail server.
func (s *Server) outboxPage(w http.ResponseWriter, r *http.Request) {
	mails, err := s.o.Store.RecentMail(r.Context(), 50)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, "暂时无法加载", "数据库暂时不可用，请稍后刷新。")
		return
	}
	s.render(w, r, http.StatusOK, "outbox", &page{Title: "发件箱（演示）", Data: mails})
}

func itoa(n int) string { return strconv.Itoa(n) }
