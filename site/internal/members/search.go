package members

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SearchForm is the members page's search form (query string), as submitted; it is echoed
// back into the form.
type SearchForm struct {
	Gender, AgeMin, AgeMax, City string
	Online, Recent               bool
	After                        string // keyset cursor of the next page, opaque here
}

// Search is a validated search: zero values filter nothing.
type Search struct {
	Gender                     string
	City                       string
	MinBirthYear, MaxBirthYear int
	Online, Recent             bool
	After                      string
}

// ParseSearch reads the members page's query. problem is a Chinese message for the page
// when the query is invalid.
func ParseSearch(q url.Values, now time.Time) (s Search, f SearchForm, problem string) {
	f = SearchForm{Gender: q.Get("gender"), AgeMin: strings.TrimSpace(q.Get("age_min")), AgeMax: strings.TrimSpace(q.Get("age_max")),
		City: q.Get("city"), Online: q.Get("online") == "1", Recent: q.Get("recent") == "1", After: q.Get("after")}
	s = Search{Online: f.Online, Recent: f.Recent, After: f.After}
	switch f.Gender {
	case "", "female", "male":
		s.Gender = f.Gender
	default:
		return s, f, "性别只能是“女”或“男”。"
	}
	if f.City != "" {
		if !slices.Contains(cities, f.City) {
			return s, f, "请从列表中选择城市。"
		}
		s.City = f.City
	}
	age := func(v string) (int, bool) {
		if v == "" {
			return 0, true
		}
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= AgeMin && n <= AgeMax
	}
	lo, ok1 := age(f.AgeMin)
	hi, ok2 := age(f.AgeMax)
	if !ok1 || !ok2 || (lo != 0 && hi != 0 && lo > hi) {
		return s, f, "年龄范围无效：请填写 18–80 之间的整数，且最小年龄不大于最大年龄。"
	}
	if hi != 0 {
		s.MinBirthYear = now.Year() - hi
	}
	if lo != 0 {
		s.MaxBirthYear = now.Year() - lo
	}
	return s, f, ""
}

// Query is the form as a query string (without the page cursor), for page links.
func (f SearchForm) Query() url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"gender": f.Gender, "age_min": f.AgeMin, "age_max": f.AgeMax, "city": f.City} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if f.Online {
		v.Set("online", "1")
	}
	if f.Recent {
		v.Set("recent", "1")
	}
	return v
}
