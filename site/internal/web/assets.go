package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html static/*
var embedded embed.FS

// asset is one static file with its content hash.
type asset struct {
	name, hashed string
	body         []byte
	etag         string
	ctype        string
}

// assets maps plain and hashed names to files; built once at New.
type assets struct {
	byName map[string]*asset // "app.css" and "app.1a2b3c4d5e.css"
	start  time.Time
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]*asset{}, start: time.Now()}
	err := fs.WalkDir(embedded, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:5])
		name := path.Base(p)
		ext := path.Ext(name)
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "application/octet-stream"
		}
		x := &asset{name: name, hashed: strings.TrimSuffix(name, ext) + "." + h + ext, body: b, etag: `"` + h + `"`, ctype: ct}
		a.byName[x.name] = x
		a.byName[x.hashed] = x
		return nil
	})
	return a, err
}

// url is the template function `asset`: the content-hashed URL of a static file.
func (a *assets) url(name string) (string, error) {
	x, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("no static asset %q", name)
	}
	return "/static/" + x.hashed, nil
}

// ServeHTTP serves GET /static/{name}.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	x, ok := a.byName[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", x.ctype)
	h.Set("ETag", x.etag)
	if name == x.hashed {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=0, must-revalidate")
	}
	http.ServeContent(w, r, "", a.start, bytes.NewReader(x.body))
}
