package members

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestGenerateDemoIDsStableAcrossSeeds(t *testing.T) {
	a, err := GenerateDemo(DemoOptions{N: 50, Seed: 1, PasswordHash: "h", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateDemo(DemoOptions{N: 50, Seed: 2, PasswordHash: "h", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range a {
		if a[i].ID != FirstDemoID+uint64(i) || b[i].ID != a[i].ID || a[i].Email != DemoEmail(a[i].ID) {
			t.Fatalf("member %d: ids %d/%d email %s", i, a[i].ID, b[i].ID, a[i].Email)
		}
		if a[i].Nickname == b[i].Nickname && a[i].City == b[i].City && a[i].Bio == b[i].Bio {
			same++
		}
		if age := a[i].Age(now); age < AgeMin || age > AgeMax {
			t.Fatalf("member %d age %d", i, age)
		}
		if !strings.HasSuffix(a[i].Email, ".invalid") {
			t.Fatalf("demo e-mail %s is not in the reserved .invalid domain", a[i].Email)
		}
	}
	if same == len(a) {
		t.Fatal("different seeds produced identical profiles")
	}
	if _, err := GenerateDemo(DemoOptions{N: 0, PasswordHash: "h"}); err == nil {
		t.Fatal("N=0 accepted")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "members.json")
	demo, _ := GenerateDemo(DemoOptions{N: 3, PasswordHash: "h", Now: now})
	if err := WriteFile(path, demo); err != nil {
		t.Fatal(err)
	}
	ms, err := ReadFile(path)
	if err != nil || len(ms) != 3 || ms[2].ID != FirstDemoID+2 || !ms[0].Verified {
		t.Fatalf("read back: %v %v", ms, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file read")
	}
	dup := filepath.Join(dir, "dup.json")
	if err := WriteFile(dup, []*Member{{ID: 1, Email: "a@b.c"}, {ID: 2, Email: "A@b.c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(dup); err == nil {
		t.Fatal("duplicate e-mails accepted")
	}
}

func TestProfileValidate(t *testing.T) {
	good := ProfileForm{Nickname: " 晴天 ", City: "杭州", Education: "硕士", Occupation: "教师", Bio: "你好", HeightCM: "170", Interests: []string{"徒步", "猫", "徒步"}}
	p, errs := good.Validate()
	if len(errs) != 0 || p.Nickname != "晴天" || p.HeightCM != 170 || len(p.Interests) != 2 {
		t.Fatalf("valid form: %+v %v", p, errs)
	}
	cases := []struct {
		field string
		edit  func(*ProfileForm)
	}{
		{"nickname", func(f *ProfileForm) { f.Nickname = "<script>" }},
		{"city", func(f *ProfileForm) { f.City = "'; DROP TABLE members;--" }},
		{"education", func(f *ProfileForm) { f.Education = "幼儿园" }},
		{"occupation", func(f *ProfileForm) { f.Occupation = strings.Repeat("长", OccupationMax+1) }},
		{"bio", func(f *ProfileForm) { f.Bio = strings.Repeat("字", BioMax+1) }},
		{"height_cm", func(f *ProfileForm) { f.HeightCM = "3m" }},
		{"height_cm", func(f *ProfileForm) { f.HeightCM = "999" }},
		{"interests", func(f *ProfileForm) { f.Interests = []string{"黑客"} }},
		{"interests", func(f *ProfileForm) { f.Interests = likes[:InterestsMax+1] }},
	}
	for _, c := range cases {
		f := good
		c.edit(&f)
		if _, errs := f.Validate(); errs[c.field] == "" || len(errs) != 1 {
			t.Errorf("%s: errors %v", c.field, errs)
		}
	}
}

func TestSignupValidate(t *testing.T) {
	good := Signup{Nickname: "晴天", Email: "a@example.com", Password: "abc12345", Confirm: "abc12345", Gender: "female", BirthYear: "1995", City: "杭州", Bio: "你好"}
	m, errs := good.Validate(now)
	if len(errs) != 0 || m.Nickname != "晴天" || m.BirthYear != 1995 {
		t.Fatalf("valid form: %v %v", m, errs)
	}
	cases := []struct {
		field string
		edit  func(*Signup)
	}{
		{"nickname", func(f *Signup) { f.Nickname = "a" }},
		{"nickname", func(f *Signup) { f.Nickname = "<b>bad</b>" }},
		{"email", func(f *Signup) { f.Email = "not-an-email" }},
		{"email", func(f *Signup) { f.Email = "Name <a@example.com>" }},
		{"password", func(f *Signup) { f.Password, f.Confirm = "short1", "short1" }},
		{"password", func(f *Signup) { f.Password, f.Confirm = "onlyletters", "onlyletters" }},
		{"confirm", func(f *Signup) { f.Confirm = "abc123456" }},
		{"gender", func(f *Signup) { f.Gender = "x" }},
		{"birth_year", func(f *Signup) { f.BirthYear = "2015" }},
		{"birth_year", func(f *Signup) { f.BirthYear = "abc" }},
		{"city", func(f *Signup) { f.City = "Atlantis" }},
		{"bio", func(f *Signup) { f.Bio = strings.Repeat("字", BioMax+1) }},
	}
	for _, c := range cases {
		f := good
		c.edit(&f)
		m, errs := f.Validate(now)
		if m != nil || errs[c.field] == "" || len(errs) != 1 {
			t.Errorf("%s: errors %v", c.field, errs)
		}
	}
}

// TestNamesRefuseBidiAndInvisibleCharacters: a nickname with U+202E (right-to-left override)
// would make "Alice\u202Eecila" render reversed; zero-width and filler characters make two
// names look alike. All are refused, as in occupation and bio; ordinary CJK, emoji and
// punctuation are fine.
func TestNamesRefuseBidiAndInvisibleCharacters(t *testing.T) {
	for _, bad := range []string{"晴天\u202E", "晴\u200B天", "\u2066晴天\u2069", "晴天\uFEFF", "晴\u3164天", "晴天\u200F", "晴\x07天", "晴\uE000天"} {
		if nicknameProblem(bad) == "" {
			t.Errorf("nickname %q accepted", bad)
		}
		f := ProfileForm{Nickname: "晴天", City: Cities()[0], Occupation: "设计" + bad, Bio: "你好" + bad}
		if _, errs := f.Validate(); errs["occupation"] == "" || errs["bio"] == "" {
			t.Errorf("%q accepted in occupation or bio: %v", bad, errs)
		}
	}
	for _, good := range []string{"晴天", "Anna-Lena", "小雨🌧", "O'Brien", "李 雷"} {
		if p := nicknameProblem(good); p != "" {
			t.Errorf("nickname %q refused: %s", good, p)
		}
	}
	if _, errs := (&ProfileForm{Nickname: "晴天", City: Cities()[0], Bio: "第一行\n第二行"}).Validate(); errs["bio"] != "" {
		t.Errorf("a bio with a newline refused: %s", errs["bio"])
	}
}
