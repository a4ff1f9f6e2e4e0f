package members

import (
	"errors"
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

func TestStoreCreatePersistsAndReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "members.json")
	demo, _ := GenerateDemo(DemoOptions{N: 3, PasswordHash: "h", Now: now})
	if err := WriteFile(path, demo); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &Member{Email: "New@Example.com", Nickname: "小明", Gender: "male", BirthYear: 1990, City: "北京"}
	if err := s.Create(m); err != nil {
		t.Fatal(err)
	}
	if m.ID != FirstSignupID {
		t.Fatalf("first sign-up id %d, want %d", m.ID, FirstSignupID)
	}
	m2 := &Member{Email: "other@example.com", Nickname: "小红"}
	if err := s.Create(m2); err != nil || m2.ID != FirstSignupID+1 {
		t.Fatalf("second sign-up: id %d err %v", m2.ID, err)
	}
	if err := s.Create(&Member{Email: " new@example.COM "}); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("duplicate e-mail (other case): %v", err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Count() != 5 || r.ByEmail("new@example.com") == nil || r.ByID(FirstDemoID+2) == nil {
		t.Fatalf("reloaded store: count %d", r.Count())
	}
	page := r.Page(2, 2)
	if len(page) != 2 || page[0].ID != FirstDemoID+2 || page[1].ID != FirstSignupID {
		t.Fatalf("page(2,2) = %v", page)
	}
	if r.Page(10, 2) != nil {
		t.Fatal("page past the end not empty")
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "site seed") {
		t.Fatalf("missing file: %v", err)
	}
	dup := filepath.Join(dir, "dup.json")
	if err := WriteFile(dup, []*Member{{ID: 1, Email: "a@b.c"}, {ID: 1, Email: "x@b.c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dup); err == nil {
		t.Fatal("duplicate ids accepted")
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
