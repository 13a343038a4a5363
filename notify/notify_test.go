package notify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/notify"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// The webhook signs its body, and reports anything but a 2xx as not delivered.
func TestWebhookSignsAndReportsFailures(t *testing.T) {
	secret := []byte("webhook-secret")
	answer := http.StatusInternalServerError
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if r.Header.Get("X-Gatehouse-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = body
		w.WriteHeader(answer)
	}))
	defer srv.Close()
	hook := &notify.Webhook{URL: srv.URL, Secret: secret, Client: srv.Client(), Now: func() time.Time { return time.Unix(0, 0) }}
	if err := hook.Notify(context.Background(), "breakglass.activated", map[string]string{"grant": "g1"}); err == nil {
		t.Fatal("a 500 counted as delivered")
	}
	answer = http.StatusNoContent
	if err := hook.Notify(context.Background(), "breakglass.activated", map[string]string{"grant": "g1"}); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Kind    string            `json:"kind"`
		Payload map[string]string `json:"payload"`
	}
	if err := json.Unmarshal(got, &msg); err != nil || msg.Kind != "breakglass.activated" || msg.Payload["grant"] != "g1" {
		t.Fatalf("delivered %s (%v)", got, err)
	}
	forged := &notify.Webhook{URL: srv.URL, Secret: []byte("guess"), Client: srv.Client(), Now: time.Now}
	if err := forged.Notify(context.Background(), "x", nil); err == nil {
		t.Fatal("a body signed with another secret was accepted")
	}
}

// mailbox is an in-process SMTP server that keeps what it is sent, and the credentials used.
type mailbox struct {
	mu    sync.Mutex
	mails []string // "from -> to\n" + data
	auth  string   // "user:pass" of the last PLAIN login
}

type mailSession struct {
	box      *mailbox
	from, to string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.box.mu.Lock()
		s.box.auth = user + ":" + pass
		s.box.mu.Unlock()
		if pass != "mail-pass" {
			return errors.New("bad password")
		}
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = to; return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.box.mu.Lock()
	s.box.mails = append(s.box.mails, s.from+" -> "+s.to+"\n"+string(b))
	s.box.mu.Unlock()
	return err
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func startMailbox(t *testing.T) (*mailbox, string) {
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: box}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return box, l.Addr().String()
}

var notice = reviews.Notice{Kind: "review.reminder", To: "u-ada", Name: "Ada", Email: "ada@example.org", Cycle: "q4-1",
	Campaign: "Q4\r\nBcc: everyone@example.org", Deadline: time.Date(2026, 12, 15, 17, 0, 0, 0, time.UTC),
	Open: []reviews.OpenCount{{Reviewer: "u-ada", Open: 3}}}

// Review reminders by email: to the reviewer's address, authenticated, and a subject with a
// line break in it cannot add a header.
func TestEmailDeliversReviewNotices(t *testing.T) {
	box, addr := startMailbox(t)
	mailer := &notify.Email{Addr: addr, From: "gatehouse@example.org", Username: "gatehouse", Password: "mail-pass", Now: epoch}
	if err := mailer.Notify(context.Background(), notice.Kind, notice); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	mails, auth := box.mails, box.auth
	box.mu.Unlock()
	if len(mails) != 1 || auth != "gatehouse:mail-pass" {
		t.Fatalf("mails %d, auth %q", len(mails), auth)
	}
	got := mails[0]
	if !strings.HasPrefix(got, "gatehouse@example.org -> ada@example.org\n") || !strings.Contains(got, "3 items wait for your decision") ||
		!strings.Contains(got, "never certified by default") {
		t.Fatalf("mail:\n%s", got)
	}
	if headers, _, _ := strings.Cut(got, "\r\n\r\n"); strings.Contains(headers, "\r\nBcc:") {
		t.Fatalf("a header was injected through the subject:\n%s", got)
	}

	wrong := &notify.Email{Addr: addr, From: "gatehouse@example.org", Username: "gatehouse", Password: "nope", Now: epoch}
	if err := wrong.Notify(context.Background(), notice.Kind, notice); err == nil {
		t.Fatal("a refused login counted as delivered")
	}
	if err := mailer.Notify(context.Background(), "breakglass.activated", map[string]string{"grant": "g1"}); err == nil {
		t.Fatal("a payload without a recipient counted as delivered")
	}
}

// Review notices to a Slack-compatible webhook: {"text": ...}; a refusal is not delivered.
func TestChatDeliversReviewNotices(t *testing.T) {
	answer := http.StatusOK
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(answer)
	}))
	defer srv.Close()
	chat := &notify.Chat{URL: srv.URL, Client: srv.Client()}
	if err := chat.Notify(context.Background(), notice.Kind, notice); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got["text"], "3 items wait for your decision") {
		t.Fatalf("chat message: %q", got)
	}
	answer = http.StatusForbidden
	if err := chat.Notify(context.Background(), notice.Kind, notice); err == nil {
		t.Fatal("a refused post counted as delivered")
	}
	if err := (notify.All{chat, &notify.Email{Addr: "127.0.0.1:1", Now: epoch}}).Notify(context.Background(), notice.Kind, notice); err == nil {
		t.Fatal("failures were swallowed")
	}
}

// epoch is the notifiers' fixed clock.
func epoch() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) }

// Webhook URLs are secrets: no delivery error names one, whatever failed (nothing listening,
// a URL that does not parse, an error answer), so the logs that print those errors do not.
func TestWebhookURLsStayOutOfErrors(t *testing.T) {
	const secret = "T0000SECRET/B0000SECRET/xoxb-do-not-log"
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	for _, url := range []string{"http://127.0.0.1:1/services/" + secret, "http://[::1/services/" + secret, failing.URL + "/services/" + secret} {
		client := &http.Client{Timeout: 2 * time.Second}
		for name, n := range map[string]governance.Notifier{
			"webhook": &notify.Webhook{URL: url, Client: client, Now: epoch},
			"chat":    &notify.Chat{URL: url, Client: client},
		} {
			err := n.Notify(context.Background(), "review.reminder", reviews.Notice{})
			if err == nil {
				t.Fatalf("%s to %s: delivered", name, url)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("%s: the error shows the URL: %v", name, err)
			}
		}
	}
}

// The checkpoint file is JSON lines that `audit verify` reads back, each checkpoint as signed;
// a webhook body of kind audit.checkpoint reads back the same way.
func TestCheckpointsKeptOutsideRedisReadBack(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	keys := governance.NewCheckpointKeys(key.Public().(ed25519.PublicKey))
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	first := governance.SignCheckpoint(key, governance.AuditHead{ID: "1-0", Hash: strings.Repeat("a", 64), Count: 1}, at)
	second := governance.SignCheckpoint(key, governance.AuditHead{ID: "2-0", Hash: strings.Repeat("b", 64), Count: 2}, at.Add(time.Second))

	path := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	file := notify.CheckpointFile{Path: path}
	for _, c := range []governance.Checkpoint{first, second} {
		if err := file.Publish(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := governance.ParseCheckpoints(data)
	if err != nil || len(got) != 2 || got[1].Position != "2-0" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, c := range got {
		if err := keys.Verify(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := (notify.CheckpointFile{Path: filepath.Join(t.TempDir(), "missing", "checkpoints.jsonl")}).Publish(context.Background(), first); err == nil {
		t.Fatal("a checkpoint reported kept in a directory that does not exist")
	}

	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { body, _ = io.ReadAll(r.Body) }))
	defer srv.Close()
	hook := &notify.Webhook{URL: srv.URL, Client: srv.Client(), Now: func() time.Time { return at }}
	if err := hook.Notify(context.Background(), "audit.checkpoint", second); err != nil {
		t.Fatal(err)
	}
	if got, err := governance.ParseCheckpoints(body); err != nil || len(got) != 1 || keys.Verify(got[0]) != nil {
		t.Fatalf("the webhook's body %s: %+v %v", body, got, err)
	}
}
