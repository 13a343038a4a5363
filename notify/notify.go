// Package notify delivers Gatehouse's notifications (break-glass activations, and later
// review reminders) to the places people watch.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/hmacsig"
)

// Webhook POSTs each notification as JSON. With a secret, the body is signed as the webhook
// connector signs its calls (see hmacsig): the header X-Gatehouse-Signature is "sha256=" and
// the hex HMAC-SHA256 of the body, so the receiver can tell it came from Gatehouse.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
	Now    func() time.Time
	// Links adds "link", the portal page where a person acts on the notification, to bodies
	// that have one (a break-glass activation: the incident's review), for the receiver to
	// show beside its alert.
	Links Links
}

var _ governance.Notifier = (*Webhook)(nil)

// Notify delivers one notification; anything but a 2xx answer is an error, and the caller
// retries.
func (w *Webhook) Notify(ctx context.Context, kind string, payload any) error {
	msg := map[string]any{"kind": kind, "sentAt": w.Now().UTC(), "payload": payload}
	if link := w.Links.For(payload); link != "" {
		msg["link"] = link
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	header := http.Header{}
	if len(w.Secret) > 0 {
		header.Set(hmacsig.Header, hmacsig.Sign(w.Secret, body))
	}
	if err := post(ctx, w.Client, w.URL, body, header); err != nil {
		return fmt.Errorf("notify %s: the webhook: %w", kind, err)
	}
	return nil
}

// post sends a JSON body to a webhook URL; anything but a 2xx answer is an error. Webhook URLs
// are secrets (the path is the credential of Slack's and most others'), so no error carries
// the URL: Go's HTTP client names it in every transport error, and those reach the logs.
func post(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the URL is not a valid HTTP URL") // the parse error quotes it
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var urlErr *neturl.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // the same failure, without the URL
		}
		return fmt.Errorf("not delivered: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}

// Log writes notifications to the log: the notifier when no channel is configured, so nothing
// is silent. An alert (a break-glass activation) is a warning. A message for people (a review
// reminder, an approver told a request waits) is written at info level as the person would
// read it, with the page to act on: the demo's approvers follow the link from its log, and
// the log holds back a warning repeated within seconds, which would drop the second of two
// people told at once.
type Log struct {
	Log   *zap.Logger
	Links Links
}

var _ governance.Notifier = Log{}

func (l Log) Notify(_ context.Context, kind string, payload any) error {
	m, ok := payload.(Message)
	if !ok {
		l.Log.Warn("notification", zap.String("kind", kind), zap.Any("payload", payload))
		return nil
	}
	fields := []zap.Field{zap.String("kind", kind), zap.String("to", m.Recipient()), zap.String("subject", m.Subject()), zap.String("text", m.Text())}
	if link := l.Links.For(payload); link != "" {
		fields = append(fields, zap.String("link", link))
	}
	l.Log.Info("notification", fields...)
	return nil
}

// CheckpointFile appends each audit checkpoint to a file as one JSON line, and syncs it to disk
// before reporting it kept: `gatehouse audit verify --checkpoint` reads the file as it is.
// Put it where Redis's operators cannot write.
type CheckpointFile struct{ Path string }

// Publish appends one checkpoint.
func (f CheckpointFile) Publish(_ context.Context, c governance.Checkpoint) error {
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	file, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644) //nolint:gosec // signed checkpoints are public, meant to be read by auditors and collectors
	if err != nil {
		return fmt.Errorf("checkpoint file: %w", err)
	}
	if _, err = file.Write(append(line, '\n')); err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint file: %w", err)
	}
	return nil
}
