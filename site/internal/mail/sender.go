package mail

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"

	"go.uber.org/zap"

	"heartline/site/internal/store"
)

// SMTP is an SMTP relay. Empty Addr: no SMTP (mails are logged).
type SMTP struct {
	Addr     string // host:port
	From     string // envelope and header sender
	User     string // PLAIN auth when set (the server must offer STARTTLS, or be localhost)
	Password string
}

// Options configure a Sender.
type Options struct {
	Store *store.Store
	SMTP  SMTP
	// Every is how often pending mails are looked for (default 2s); Wake() sends at once.
	Every time.Duration
	Log   *zap.Logger
	// send delivers one mail; tests replace it. Default: SMTP or log.
	send func(m store.Mail) error
}

// Sender delivers the outbox.
type Sender struct {
	o    Options
	wake chan struct{}
}

// New returns a Sender.
func New(o Options) *Sender {
	if o.Every <= 0 {
		o.Every = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	s := &Sender{o: o, wake: make(chan struct{}, 1)}
	if s.o.send == nil {
		if o.SMTP.Addr != "" {
			s.o.send = s.smtpSend
		} else {
			s.o.send = s.logSend
		}
	}
	return s
}

// Wake asks the running sender to look at the outbox now (after a sign-up).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers pending mails until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Every)
	defer t.Stop()
	for {
		if _, err := s.SendPending(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.Warn("mail: reading the outbox", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// SendPending delivers what is pending now and returns how many were delivered.
func (s *Sender) SendPending(ctx context.Context) (int, error) {
	ms, err := s.o.Store.PendingMail(ctx, 100)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, m := range ms {
		if err := s.o.send(m); err != nil {
			s.o.Log.Warn("mail: delivery failed; will retry", zap.String("id", m.ID), zap.Int("attempt", m.Attempts+1), zap.Error(err))
			if err := s.o.Store.MarkFailed(ctx, m.ID, err); err != nil {
				return sent, err
			}
			continue
		}
		if err := s.o.Store.MarkSent(ctx, m.ID); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// logSend is delivery without SMTP: the demo reads the link in the log or on /outbox.
func (s *Sender) logSend(m store.Mail) error {
	s.o.Log.Info("mail: no -smtp-addr; mail written to the log instead of sent", zap.String("to", m.To), zap.String("subject", m.Subject), zap.String("body", m.Body))
	return nil
}

func (s *Sender) smtpSend(m store.Mail) error {
	var auth smtp.Auth
	if s.o.SMTP.User != "" {
		host, _, _ := net.SplitHostPort(s.o.SMTP.Addr)
		auth = smtp.PlainAuth("", s.o.SMTP.User, s.o.SMTP.Password, host)
	}
	return smtp.SendMail(s.o.SMTP.Addr, auth, s.o.SMTP.From, []string{m.To}, Message(s.o.SMTP.From, m))
}

// Message is m as an RFC 5322 message (UTF-8, encoded subject, CRLF line ends).
func Message(from string, m store.Mail) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nMessage-ID: <%s@heartline>\r\n\r\n",
		clean(from), clean(m.To), mime.BEncoding.Encode("utf-8", clean(m.Subject)), m.ID)
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

// clean removes CR and LF so no header can be injected.
func clean(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }
