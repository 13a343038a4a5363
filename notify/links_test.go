package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/notify"
)

const portal = "https://gatehouse.example.org"

// Each kind of notification links to the page where the person it reaches acts on it.
func TestLinksPointWherePeopleAct(t *testing.T) {
	escalation := notice
	escalation.Kind = "review.escalation"
	links := notify.Links{Base: portal}
	for _, c := range []struct {
		name    string
		payload any
		want    string
	}{
		{"a review reminder, to the reviewer's open items", notice, portal + "/reviews"},
		{"a review escalation, to the campaign owner's reviews", escalation, portal + "/reviews"},
		{"a break-glass activation, to the incident reviews", governance.IncidentReview{ID: "i1", Grant: "g1"}, portal + "/security"},
		{"a request, to its page", governance.Request{ID: "r-42"}, portal + "/requests/r-42"},
		// An id is one path segment: one that holds a slash or a query cannot lead elsewhere.
		{"a request with a hostile id stays on its page", governance.Request{ID: "../admin?x=1"}, portal + "/requests/..%2Fadmin%3Fx=1"},
		{"a request without an id has no page", governance.Request{}, ""},
		{"audit events are for machines", []governance.ForwardedEvent{{}}, ""},
		{"nothing", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := links.For(c.payload); got != c.want {
				t.Errorf("link %q, want %q", got, c.want)
			}
			if got := (notify.Links{}).For(c.payload); got != "" {
				t.Errorf("with the portal off the link is %q, want none", got)
			}
		})
	}
}

// A review reminder by email ends with the page to act on; without a portal it has no link.
func TestEmailLinksToTheReviews(t *testing.T) {
	box, addr := startMailbox(t)
	for _, links := range []notify.Links{{Base: portal}, {}} {
		mailer := &notify.Email{Addr: addr, From: "gatehouse@example.org", Now: epoch, Links: links}
		if err := mailer.Notify(context.Background(), notice.Kind, notice); err != nil {
			t.Fatal(err)
		}
	}
	box.mu.Lock()
	mails := box.mails
	box.mu.Unlock()
	if len(mails) != 2 {
		t.Fatalf("%d mails", len(mails))
	}
	if !strings.Contains(mails[0], "\r\nOpen it in Gatehouse: "+portal+"/reviews\r\n") {
		t.Errorf("the reminder does not link to the reviews:\n%s", mails[0])
	}
	if strings.Contains(mails[1], "Open it in Gatehouse") {
		t.Errorf("without a portal the reminder links somewhere:\n%s", mails[1])
	}
}

// A review reminder in chat carries the same link.
func TestChatLinksToTheReviews(t *testing.T) {
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	chat := &notify.Chat{URL: srv.URL, Client: srv.Client(), Links: notify.Links{Base: portal}}
	if err := chat.Notify(context.Background(), notice.Kind, notice); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got["text"], "Open it in Gatehouse: "+portal+"/reviews\n") {
		t.Errorf("chat message: %q", got["text"])
	}
}

// A break-glass activation sent to the alert webhook links to the incident reviews; audit
// events forwarded to a SIEM carry no link.
func TestWebhookLinksAnIncidentToSecurity(t *testing.T) {
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		bodies = append(bodies, m)
	}))
	defer srv.Close()
	hook := &notify.Webhook{URL: srv.URL, Client: srv.Client(), Now: epoch, Links: notify.Links{Base: portal}}
	if err := hook.Notify(context.Background(), "breakglass.activated", governance.IncidentReview{ID: "i1"}); err != nil {
		t.Fatal(err)
	}
	if err := hook.Notify(context.Background(), "audit.events", []governance.ForwardedEvent{{}}); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 {
		t.Fatalf("%d bodies", len(bodies))
	}
	if bodies[0]["link"] != portal+"/security" {
		t.Errorf("the activation's link is %v", bodies[0]["link"])
	}
	if _, ok := bodies[1]["link"]; ok {
		t.Errorf("forwarded audit events carry a link: %v", bodies[1])
	}
}
