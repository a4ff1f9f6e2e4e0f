package web

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
)

// pages are the templates rendered inside layout.html.
var pages = []string{"landing", "signup", "checkmail", "login", "account", "profile", "members", "matches", "outbox", "error"}

// parseTemplates parses every page with the layout once.
func parseTemplates(a *assets) (map[string]*template.Template, error) {
	funcs := template.FuncMap{"asset": a.url}
	out := map[string]*template.Template{}
	for _, p := range pages {
		t, err := template.New(p).Funcs(funcs).ParseFS(embedded, "templates/layout.html", "templates/cards.html", path.Join("templates", p+".html"))
		if err != nil {
			return nil, fmt.Errorf("web: parsing template %s: %w", p, err)
		}
		out[p] = t
	}
	if _, err := fs.Stat(embedded, "static/app.css"); err != nil {
		return nil, fmt.Errorf("web: embedded static files missing: %w", err)
	}
	return out, nil
}
