package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/privacy"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
)

// maxFormBytes bounds a form submission.
const maxFormBytes = 16 << 10

type landingData struct{ Online, Members int }

func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "landing", &page{Data: landingData{s.o.Presence.OnlineUsers(), s.count.get(r.Context(), s.o.Store, s.o.Now())}})
}

// parseForm bounds the body, parses it and checks the CSRF token; on failure it has
// answered the request.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "提交失败", "表单内容无效或过大，请返回重试。")
		return false
	}
	if !s.o.Keys.CheckCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "页面已过期", "安全校验失败（CSRF）：请刷新页面后重新提交。如果问题持续，请确认浏览器允许本站的 Cookie。")
		return false
	}
	return true
}

// card is one member on a list page.
type card struct {
	*members.Member
	Age      int
	Online   bool
	LastSeen int64
	SeenText string
	Liked    bool
	Self     bool
}

type membersData struct {
	Cards         []card
	Online, Total int
	Filters       members.SearchForm
	Cities        []string
	Next          string // URL of the next page; "" at the end
	First         string // URL of the first page when not on it
	AgeMin        int
	AgeMax        int
	Empty         string
}

// RecentWindow is what "recently active" means on the members page.
const RecentWindow = 7 * 24 * time.Hour

// searchFromQuery turns the members page's query into store options; the error message
// is for the page.
func (s *Server) searchFromQuery(q url.Values, now time.Time) (store.SearchOptions, members.SearchForm, string) {
	p, f, problem := members.ParseSearch(q, now)
	o := store.SearchOptions{Limit: s.o.PageSize, Gender: p.Gender, City: p.City, MinBirthYear: p.MinBirthYear, MaxBirthYear: p.MaxBirthYear}
	if problem != "" {
		return o, f, problem
	}
	if p.Recent {
		o.ActiveSinceMS = now.Add(-RecentWindow).UnixMilli()
	}
	if p.Online {
		// Only members whose presence is for every member qualify here (a match-only member
		// is shown online on the viewer's card when they are a match, never found by the
		// filter); the cards apply the full rule.
		view := s.o.Privacy.View()
		o.Keep = func(id uint64) bool {
			return view.Subject(id).Mode == privacy.ModeMembers && s.o.Presence.Lookup(id).Online
		}
	}
	if p.After != "" {
		c, err := store.ParseCursor(p.After)
		if err != nil {
			return o, f, "分页参数无效，请从第一页重新浏览。"
		}
		o.After = &c
	}
	return o, f, ""
}

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request) {
	now := s.o.Now()
	if r.URL.Query().Has("page") {
		// The list pages by position in the activity order now, not by page number.
		http.Redirect(w, r, "/members", http.StatusMovedPermanently)
		return
	}
	// Members and their presence are for signed-in members: an anonymous visitor would
	// otherwise learn who was active when from the list's order.
	viewer, _ := s.requireUser(w, r)
	if viewer == nil {
		return
	}
	o, f, problem := s.searchFromQuery(r.URL.Query(), now)
	if problem != "" {
		s.errorPage(w, r, http.StatusBadRequest, "搜索条件无效", problem)
		return
	}
	o.HiddenFrom = viewer.ID
	res, err := s.o.Store.Search(r.Context(), o)
	if err != nil {
		s.o.Log.Error("site: searching members", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "暂时无法加载会员", "数据库暂时不可用，请稍后刷新。")
		return
	}
	d := membersData{Online: s.o.Presence.OnlineUsers(), Total: s.count.get(r.Context(), s.o.Store, now), Filters: f,
		Cities: members.Cities(), AgeMin: members.AgeMin, AgeMax: members.AgeMax}
	if res.Next != nil {
		q := f.Query()
		q.Set("after", res.Next.String())
		d.Next = "/members?" + q.Encode()
	}
	if o.After != nil {
		d.First = "/members"
		if q := f.Query().Encode(); q != "" {
			d.First += "?" + q
		}
	}
	if len(res.Members) == 0 {
		d.Empty = "没有符合条件的会员。换个条件试试？"
		if f.Online && d.Next != "" {
			d.Empty = "这一批会员中暂时没有在线的，点“下一页”继续查找。"
		}
	}
	cards, ids := s.cards(r, viewer, res.Members, now)
	d.Cards = cards
	s.render(w, r, http.StatusOK, "members", &page{Title: "会员", User: viewer, LiveIDs: ids, Data: d})
}

// cards builds list cards with presence and the viewer's likes; ids is the SSE watch list.
func (s *Server) cards(r *http.Request, viewer *members.Member, list []*members.Member, now time.Time) ([]card, string) {
	ids := make([]string, 0, len(list))
	var liked map[uint64]bool
	if viewer != nil && len(list) > 0 {
		want := make([]uint64, len(list))
		for i, m := range list {
			want[i] = m.ID
		}
		var err error
		if liked, err = s.o.Store.LikedAmong(r.Context(), viewer.ID, want); err != nil {
			s.o.Log.Warn("site: reading likes", zap.Error(err))
		}
	}
	var vid uint64
	if viewer != nil {
		vid = viewer.ID
	}
	all := make([]uint64, len(list))
	for i, m := range list {
		all[i] = m.ID
	}
	ps, allowed, err := s.viewsFor(r.Context(), vid, all)
	if err != nil {
		s.o.Log.Warn("site: presence privacy (showing everyone offline)", zap.Error(err))
	}
	out := make([]card, 0, len(list))
	for _, m := range list {
		c := card{Member: m, Age: m.Age(now), Liked: liked[m.ID], Self: vid != 0 && vid == m.ID}
		c.Online, c.LastSeen, c.SeenText = seenText(ps[m.ID], c.Self, allowed[m.ID], now)
		out = append(out, c)
		ids = append(ids, strconv.FormatUint(m.ID, 10))
	}
	return out, strings.Join(ids, ",")
}

// LastSeenText is the Chinese "last seen" text for a unix-ms time (0: never seen); app.js
// computes the same text in the browser.
func LastSeenText(ms int64, now time.Time) string {
	if ms == 0 {
		return "离线"
	}
	min := int(now.Sub(time.UnixMilli(ms)) / time.Minute)
	switch {
	case min < 1:
		return "刚刚在线"
	case min < 60:
		return fmt.Sprintf("%d 分钟前在线", min)
	case min < 24*60:
		return fmt.Sprintf("%d 小时前在线", min/60)
	case min < 30*24*60:
		return fmt.Sprintf("%d 天前在线", min/(24*60))
	}
	return "很久没上线"
}
