package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Message is a notification written for people: review reminders and escalations, the
// notice that a request waits for an approver, and a service account's coming deadline. Email and
// chat deliver only these; machine receivers get everything through Webhook.
type Message interface {
	Recipient() string // an email address
	Subject() string
	Text() string
}

var (
	_ Message = reviews.Notice{}
	_ Message = governance.ApprovalNotice{}
	_ Message = governance.ServiceAccountNotice{}
)

// Email sends messages over SMTP: STARTTLS whenever the server offers it, and PLAIN
// authentication when a username is set (net/smtp refuses that without TLS, but on loopback).
type Email struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	Timeout  time.Duration // the whole conversation; default 30 s
	// TLS configures STARTTLS; nil uses the system's roots and the Addr's host name.
	TLS *tls.Config
	// Now is the gateway's clock, for the Date header.
	Now func() time.Time
	// Links puts the page to act on at the end of each message.
	Links Links
}

var _ governance.Notifier = (*Email)(nil)

// Notify mails a Message to its recipient; anything else, or a message without a recipient, is
// an error the caller sees (it is retried, and logged).
func (e *Email) Notify(ctx context.Context, kind string, payload any) error {
	m, ok := payload.(Message)
	if !ok || m.Recipient() == "" {
		return fmt.Errorf("notify %s: no email address to send it to", kind)
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(e.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close() // the greeting failed; that error is the one to report
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("notify %s: starttls: %w", kind, err)
		}
	}
	if e.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("notify %s: auth: %w", kind, err)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	if err := c.Rcpt(m.Recipient()); err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	if _, err := w.Write(mail(e.From, m, e.Links.For(m), e.Now())); err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	return c.Quit()
}

func mail(from string, m Message, link string, at time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		// A CR or LF from a subject or a name must not start a header of its own.
		governance.OneLine(from), governance.OneLine(m.Recipient()), governance.OneLine(m.Subject()), at.UTC().Format(time.RFC1123Z))
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(withLink(m.Text(), link), "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes()
}

// Chat posts messages to a Slack-compatible incoming webhook ({"text": ...}); Mattermost and
// Teams' Slack-compatible endpoints take the same.
type Chat struct {
	URL    string
	Client *http.Client
	// Links puts the page to act on at the end of each message.
	Links Links
}

var _ governance.Notifier = (*Chat)(nil)

func (c *Chat) Notify(ctx context.Context, kind string, payload any) error {
	m, ok := payload.(Message)
	if !ok {
		return fmt.Errorf("notify %s: not a message for people", kind)
	}
	body, err := json.Marshal(map[string]string{"text": "*" + m.Subject() + "*\n" + withLink(m.Text(), c.Links.For(m))})
	if err != nil {
		return err
	}
	if err := post(ctx, c.Client, c.URL, body, nil); err != nil {
		return fmt.Errorf("notify %s: the chat webhook: %w", kind, err)
	}
	return nil
}

// All delivers to every notifier, trying each even when one fails; the error joins the
// failures (the caller retries, so a delivered channel may see the notice twice).
type All []governance.Notifier

func (a All) Notify(ctx context.Context, kind string, payload any) error {
	var errs []error
	for _, n := range a {
		errs = append(errs, n.Notify(ctx, kind, payload))
	}
	return errors.Join(errs...)
}
