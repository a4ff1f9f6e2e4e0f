package mail

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"heartline/site/internal/store"
)

// fakeSMTP is a minimal SMTP server on loopback that records one message per connection.
func fakeSMTP(t *testing.T) (addr string, got <-chan string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	msgs := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				say := func(s string) { c.Write([]byte(s + "\r\n")) } //nolint:errcheck
				say("220 fake ESMTP")
				var data strings.Builder
				inData := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if inData {
						if line == ".\r\n" {
							inData = false
							msgs <- data.String()
							say("250 queued")
							continue
						}
						data.WriteString(line)
						continue
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						say("250 fake")
					case strings.HasPrefix(cmd, "MAIL FROM:"), strings.HasPrefix(cmd, "RCPT TO:"):
						data.WriteString(strings.TrimSpace(line) + "\n")
						say("250 ok")
					case cmd == "DATA":
						inData = true
						say("354 go ahead")
					case cmd == "QUIT":
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	return l.Addr().String(), msgs
}

func TestSenderDeliversOverSMTP(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnqueueMail(ctx, store.Mail{To: "a@example.com", Subject: "请验证你的邮箱", Body: "打开 http://site/verify?token=abc"}); err != nil {
		t.Fatal(err)
	}
	addr, got := fakeSMTP(t)
	s := New(Options{Store: st, SMTP: SMTP{Addr: addr, From: "noreply@heartline.invalid"}})
	if n, err := s.SendPending(ctx); err != nil || n != 1 {
		t.Fatalf("sent %d, %v", n, err)
	}
	msg := <-got
	for _, want := range []string{"MAIL FROM:<noreply@heartline.invalid>", "RCPT TO:<a@example.com>", "To: a@example.com", "verify?token=abc", "Subject: =?utf-8?b?"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if p, _ := st.PendingMail(ctx, 10); len(p) != 0 {
		t.Fatal("delivered mail still pending")
	}
	// A relay that is down leaves the mail pending with the error recorded.
	st.EnqueueMail(ctx, store.Mail{To: "b@example.com", Subject: "s", Body: "b"}) //nolint:errcheck
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	down := New(Options{Store: st, SMTP: SMTP{Addr: deadAddr, From: "noreply@heartline.invalid"}})
	if n, err := down.SendPending(ctx); err != nil || n != 0 {
		t.Fatalf("with the relay down: sent %d, %v", n, err)
	}
	if p, _ := st.PendingMail(ctx, 10); len(p) != 1 || p[0].Attempts != 1 || p[0].LastError == "" {
		t.Fatalf("pending after a failed delivery: %+v", p)
	}
}
