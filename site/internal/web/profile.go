package web

import (
	"errors"
	"io"
	"net/http"

	"go.uber.org/zap"

	"heartline/site/internal/members"
	"heartline/site/internal/photo"
	"heartline/site/internal/store"
)

// Profiles: editing, photo upload (re-encoded by site/photo) and photo serving.

type profileData struct {
	Form       members.ProfileForm
	Errors     members.Errors
	Cities     []string
	Educations []string
	Interests  []string
	Chosen     map[string]bool
	Photo      string
	Message    string
	MaxMB      int
}

func (s *Server) profilePage(w http.ResponseWriter, r *http.Request, status int, m *members.Member, f members.ProfileForm, errs members.Errors, msg string) {
	chosen := map[string]bool{}
	for _, i := range f.Interests {
		chosen[i] = true
	}
	s.render(w, r, status, "profile", &page{Title: "我的资料", User: m, Data: profileData{Form: f, Errors: errs, Cities: members.Cities(),
		Educations: members.Educations(), Interests: members.Interests(), Chosen: chosen, Photo: m.Photo, Message: msg, MaxMB: photo.MaxBytes >> 20}})
}

func formOf(m *members.Member) members.ProfileForm {
	f := members.ProfileForm{Nickname: m.Nickname, City: m.City, Education: m.Education, Occupation: m.Occupation, Bio: m.Bio, Interests: m.Interests}
	if m.HeightCM != 0 {
		f.HeightCM = itoa(m.HeightCM)
	}
	return f
}

func (s *Server) profileForm(w http.ResponseWriter, r *http.Request) {
	m, _ := s.requireUser(w, r)
	if m == nil {
		return
	}
	msg := ""
	switch {
	case r.URL.Query().Get("welcome") == "1":
		msg = "邮箱验证成功，欢迎！完善资料、上传照片，让更多人认识你。"
	case r.URL.Query().Get("saved") == "1":
		msg = "资料已保存。"
	case r.URL.Query().Get("photo") == "1":
		msg = "照片已更新。"
	}
	s.profilePage(w, r, http.StatusOK, m, formOf(m), nil, msg)
}

func (s *Server) saveProfile(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	m, _ := s.requireUser(w, r)
	if m == nil {
		return
	}
	pf := r.PostForm
	f := members.ProfileForm{Nickname: pf.Get("nickname"), City: pf.Get("city"), Education: pf.Get("education"), Occupation: pf.Get("occupation"),
		Bio: pf.Get("bio"), HeightCM: pf.Get("height_cm"), Interests: pf["interests"]}
	if len(f.Interests) > 50 {
		f.Interests = f.Interests[:50]
	}
	p, errs := f.Validate()
	if len(errs) > 0 {
		s.profilePage(w, r, http.StatusUnprocessableEntity, m, f, errs, "")
		return
	}
	if err := s.o.Store.UpdateProfile(r.Context(), m.ID, p); err != nil {
		s.o.Log.Error("site: saving profile", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "保存失败", "服务器暂时无法保存资料，原来的资料没有改变。请稍后再试。")
		return
	}
	http.Redirect(w, r, "/profile?saved=1", http.StatusSeeOther)
}

// uploadPhoto takes a multipart upload (field "photo"), re-encodes it and makes it the
// member's profile photo. Bad uploads get the profile page with the reason; the old photo
// stays.
func (s *Server) uploadPhoto(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, photo.MaxBytes+64<<10)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var tooBig *http.MaxBytesError
		msg := "上传失败：请选择一张 JPEG 或 PNG 照片再提交。"
		status := http.StatusBadRequest
		if errors.As(err, &tooBig) {
			msg, status = "照片太大：最大 5 MB。", http.StatusRequestEntityTooLarge
		}
		s.photoError(w, r, status, msg)
		return
	}
	defer r.MultipartForm.RemoveAll() //nolint:errcheck
	if !s.o.Keys.CheckCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "页面已过期", "安全校验失败（CSRF）：请刷新页面后重新提交。")
		return
	}
	m, _ := s.requireUser(w, r)
	if m == nil {
		return
	}
	file, _, err := r.FormFile("photo")
	if err != nil {
		s.photoError(w, r, http.StatusBadRequest, "请选择一张照片。")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, photo.MaxBytes+1))
	if err != nil {
		s.photoError(w, r, http.StatusBadRequest, "上传中断，请重试。")
		return
	}
	// Decoding a 4096×4096 image takes 64 MiB: two at a time bound the memory uploads can use.
	s.photoSlots <- struct{}{}
	p, err := photo.Process(data)
	<-s.photoSlots
	var pe *photo.Error
	if errors.As(err, &pe) {
		s.photoError(w, r, http.StatusUnprocessableEntity, pe.Message)
		return
	}
	if err == nil {
		err = s.o.Store.PutPhoto(r.Context(), store.Photo{Name: p.Name, ContentType: p.ContentType, Data: p.Data})
	}
	if err == nil {
		err = s.o.Store.SetPhoto(r.Context(), m.ID, p.Name)
	}
	if err != nil {
		s.o.Log.Error("site: storing photo", zap.Error(err))
		s.photoError(w, r, http.StatusInternalServerError, "服务器暂时无法保存照片，原来的照片没有改变。请稍后再试。")
		return
	}
	http.Redirect(w, r, "/profile?photo=1", http.StatusSeeOther)
}

func (s *Server) photoError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	m := s.currentUser(r)
	if m == nil {
		s.errorPage(w, r, status, "上传失败", msg)
		return
	}
	s.profilePage(w, r, status, m, formOf(m), members.Errors{"photo": msg}, "")
}

// servePhoto serves a stored photo. Names are content hashes, so a URL's bytes never
// change: cached for a year, immutable.
func (s *Server) servePhoto(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !photo.ValidName(name) {
		http.NotFound(w, r)
		return
	}
	etag := `"` + name[:32] + `"`
	h := w.Header()
	if r.Header.Get("If-None-Match") == etag {
		h.Set("ETag", etag)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p, err := s.o.Store.PhotoByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.o.Log.Error("site: reading photo", zap.Error(err))
		http.Error(w, "photo temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	h.Set("Content-Type", photo.ContentTypeOf(name))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", etag)
	h.Set("Content-Length", itoa(len(p.Data)))
	w.Write(p.Data) //nolint:errcheck
}
