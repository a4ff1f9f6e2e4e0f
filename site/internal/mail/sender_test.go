package mail

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"heartline/site/internal/store"
)

func TestSenderDeliversRetriesAndMarks(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, to := range []string{"a@example.com", "b@example.com"} {
		if err := st.EnqueueMail(ctx, store.Mail{To: to, Subject: "请验证邮箱", Body: "link"}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	fail := true
	s := New(Options{Store: st, send: func(m store.Mail) error {
		if m.To == "b@example.com" && fail {
			return errors.New("451 try later")
		}
		got = append(got, m.To)
		return nil
	}})
	if n, err := s.SendPending(ctx); err != nil || n != 1 || len(got) != 1 || got[0] != "a@example.com" {
		t.Fatalf("first round: %d %v %v", n, got, err)
	}
	p, _ := st.PendingMail(ctx, 10)
	if len(p) != 1 || p[0].To != "b@example.com" || p[0].Attempts != 1 {
		t.Fatalf("pending after a failure: %+v", p)
	}
	fail = false
	if n, _ := s.SendPending(ctx); n != 1 {
		t.Fatalf("retry delivered %d", n)
	}
	if p, _ := st.PendingMail(ctx, 10); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
}

func TestMessageHasNoHeaderInjection(t *testing.T) {
	b := string(Message("site@example.com", store.Mail{ID: "x", To: "a@example.com\r\nBcc: evil@example.com", Subject: "请验证\nBcc: x", Body: "line1\nline2"}))
	head, body, _ := strings.Cut(b, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(line, "Bcc:") {
			t.Fatalf("injected header: %q", line)
		}
	}
	if body != "line1\r\nline2" || !strings.Contains(head, "Subject: =?utf-8?b?") {
		t.Fatalf("message:\n%s", b)
	}
}
