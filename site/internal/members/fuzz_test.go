package members

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzProfileValidate: any submitted profile form is rejected with a message per field or
// yields a profile within the form's limits; never a panic.
func FuzzProfileValidate(f *testing.F) {
	f.Add("晴天", "杭州", "硕士", "教师", "你好", "170", "徒步,猫")
	f.Add("<b>", "Atlantis", "x", strings.Repeat("长", 30), "", "-1", "黑客")
	f.Add("'; DROP TABLE members;--", "北京", "", "", "\x00", "999999999999999999999", "")
	f.Fuzz(func(t *testing.T, nick, city, edu, job, bio, height, interests string) {
		form := ProfileForm{Nickname: nick, City: city, Education: edu, Occupation: job, Bio: bio, HeightCM: height, Interests: strings.Split(interests, ",")}
		p, errs := form.Validate()
		if len(errs) > 0 {
			for field, msg := range errs {
				if msg == "" || !utf8.ValidString(msg) {
					t.Fatalf("field %s: empty message", field)
				}
			}
			return
		}
		if nicknameProblem(p.Nickname) != "" || !contains(cities, p.City) || utf8.RuneCountInString(p.Bio) > BioMax ||
			(p.HeightCM != 0 && (p.HeightCM < HeightMin || p.HeightCM > HeightMax)) || len(p.Interests) > InterestsMax {
			t.Fatalf("accepted out-of-limits profile %+v", p)
		}
	})
}

// FuzzParseSearch: any query string is refused with a message or yields a search within
// the form's limits; never a panic.
func FuzzParseSearch(f *testing.F) {
	for _, q := range []string{"", "online=1&gender=female&city=北京&age_min=20&age_max=30", "age_min=99", "after=1.2",
		"gender=x", "city=%27%20OR%201%3D1", "recent=1&age_max=17", "age_min=30&age_max=20"} {
		f.Add(q)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		s, form, problem := ParseSearch(q, now)
		if problem != "" {
			return
		}
		if s.Gender != "" && s.Gender != "female" && s.Gender != "male" || s.City != "" && !contains(cities, s.City) {
			t.Fatalf("accepted %+v", s)
		}
		if s.MinBirthYear != 0 && s.MaxBirthYear != 0 && s.MinBirthYear > s.MaxBirthYear {
			t.Fatalf("empty age range accepted: %+v", s)
		}
		if s.MinBirthYear != 0 && now.Year()-s.MinBirthYear > AgeMax || s.MaxBirthYear != 0 && now.Year()-s.MaxBirthYear < AgeMin {
			t.Fatalf("age outside %d..%d accepted: %+v", AgeMin, AgeMax, s)
		}
		again, _, p2 := ParseSearch(form.Query(), now)
		if p2 != "" || again.Gender != s.Gender || again.City != s.City || again.MinBirthYear != s.MinBirthYear || again.MaxBirthYear != s.MaxBirthYear {
			t.Fatalf("the form's own query parses differently: %+v vs %+v (%s)", again, s, p2)
		}
	})
}
