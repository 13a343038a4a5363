package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

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
		{"a request waiting for an approver, to its decision page", awaiting, portal + "/approvals/r-42"},
		{"a hostile request id stays on the decision page", governance.ApprovalNotice{Request: "../admin?x=1"}, portal + "/approvals/..%2Fadmin%3Fx=1"},
		{"an approval notice without a request has no page", governance.ApprovalNotice{To: "u-ada"}, ""},
		{"a service account's coming deadline, to where its owner extends it", expiring, portal + "/access#accounts"},
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

// awaiting tells Ada that Grace's request waits for her; its justification tries to add a
// header to the mail it is sent in.
var awaiting = governance.ApprovalNotice{Kind: governance.KindApprovalAwaited, Request: "r-42", To: "u-ada", Name: "Ada Lovelace",
	Email: "ada@example.org", Requester: "Grace Hopper", Beneficiary: "Grace Hopper", Entitlement: "Payroll read",
	Justification: "month end\r\nBcc: everyone@example.org\r\n\r\nfake body", Deadline: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)}

// The mail telling an approver a request waits for them names the people, says by when, links
// to the decision page, and keeps a justification's line breaks from making a header or a line.
func TestEmailTellsTheApproverWhereToDecide(t *testing.T) {
	box, addr := startMailbox(t)
	mailer := &notify.Email{Addr: addr, From: "gatehouse@example.org", Now: epoch, Links: notify.Links{Base: portal}}
	if err := mailer.Notify(context.Background(), awaiting.Kind, awaiting); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	mails := box.mails
	box.mu.Unlock()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	got := mails[0]
	headers, body, _ := strings.Cut(got, "\r\n\r\n")
	if !strings.HasPrefix(headers, "gatehouse@example.org -> ada@example.org\n") || !strings.Contains(headers, "Subject: Access request: Grace Hopper asks for Payroll read\r\n") {
		t.Fatalf("headers:\n%s", headers)
	}
	if strings.Contains(headers, "Bcc:") {
		t.Fatalf("the justification added a header:\n%s", got)
	}
	want := "Grace Hopper asks for Payroll read for themselves, because month end Bcc: everyone@example.org  fake body; decide by Tue, 08 Dec 2026 09:00:00 UTC."
	if !strings.Contains(body, "Hello Ada Lovelace,\r\n\r\n"+want+"\r\n") {
		t.Fatalf("body:\n%s", body)
	}
	if !strings.Contains(body, "\r\nOpen it in Gatehouse: "+portal+"/approvals/r-42\r\n") {
		t.Errorf("the mail does not link to the decision page:\n%s", body)
	}
	if strings.Contains(body, "\r\nBcc:") || strings.Contains(body, "\r\nfake body") {
		t.Errorf("the justification broke into lines of its own:\n%s", body)
	}
}

// In chat the notice carries the same link; on someone else's behalf it names whom it is for.
func TestChatTellsTheApproverWhereToDecide(t *testing.T) {
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	forBob := awaiting
	forBob.Beneficiary, forBob.Deadline = "Bob\nBuilder", time.Time{}
	chat := &notify.Chat{URL: srv.URL, Client: srv.Client(), Links: notify.Links{Base: portal}}
	if err := chat.Notify(context.Background(), forBob.Kind, forBob); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got["text"], "asks for Payroll read for Bob Builder, because") || !strings.Contains(got["text"], "; it has no deadline.") ||
		!strings.HasSuffix(got["text"], "Open it in Gatehouse: "+portal+"/approvals/r-42\n") {
		t.Errorf("chat message: %q", got["text"])
	}
}

// With no channel configured, messages for people go to the log as the person would read them,
// with the page to act on (the demo's approvers follow it from there), each at info level, so
// the log's hold on repeated warnings cannot drop the second of two people told at once; an
// alert stays a warning.
func TestLogShowsMessagesWithTheirLink(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	log := notify.Log{Log: zap.New(core), Links: notify.Links{Base: portal}}
	toOwn1 := awaiting
	toOwn1.To, toOwn1.Name, toOwn1.Email = "u-own1", "Owen", "owen@example.org"
	for _, n := range []governance.ApprovalNotice{awaiting, toOwn1} {
		if err := log.Notify(context.Background(), n.Kind, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Notify(context.Background(), "breakglass.activated", governance.IncidentReview{ID: "i1"}); err != nil {
		t.Fatal(err)
	}
	entries := logs.AllUntimed()
	if len(entries) != 3 {
		t.Fatalf("%d entries", len(entries))
	}
	for i, to := range []string{"ada@example.org", "owen@example.org"} {
		fields := entries[i].ContextMap()
		if entries[i].Level != zapcore.InfoLevel || fields["to"] != to || fields["link"] != portal+"/approvals/r-42" ||
			!strings.Contains(fmt.Sprint(fields["text"]), "Grace Hopper asks for Payroll read") {
			t.Errorf("entry %d: %s %v", i, entries[i].Level, fields)
		}
	}
	if entries[2].Level != zapcore.WarnLevel {
		t.Errorf("an alert logged at %s", entries[2].Level)
	}
}

// expiring tells Ada her account's deadline comes; its name tries to add a header.
var expiring = governance.ServiceAccountNotice{Kind: governance.KindServiceAccountDeadline, Account: "ci-bot", Name: "CI\r\nBcc: everyone@example.org",
	To: "u-ada", Owner: "Ada Lovelace", Email: "ada@example.org", Deadline: time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC)}

// The mail reminding an owner of a service account's deadline says when, what happens then and
// where to extend it, and keeps the account's name on its line.
func TestEmailRemindsTheOwnerOfTheDeadline(t *testing.T) {
	box, addr := startMailbox(t)
	mailer := &notify.Email{Addr: addr, From: "gatehouse@example.org", Now: epoch, Links: notify.Links{Base: portal}}
	if err := mailer.Notify(context.Background(), expiring.Kind, expiring); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	mails := box.mails
	box.mu.Unlock()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	headers, body, _ := strings.Cut(mails[0], "\r\n\r\n")
	if !strings.HasPrefix(headers, "gatehouse@example.org -> ada@example.org\n") ||
		!strings.Contains(headers, "Subject: Service account CI Bcc: everyone@example.org expires on 14 December 2026\r\n") {
		t.Fatalf("headers:\n%s", headers)
	}
	if !strings.Contains(body, "Hello Ada Lovelace,\r\n\r\nthe service account CI Bcc: everyone@example.org (ci-bot), which you own, expires on Mon, 14 Dec 2026 00:00:00 UTC.") ||
		!strings.Contains(body, "extend its deadline under My access") || !strings.Contains(body, "\r\nOpen it in Gatehouse: "+portal+"/access#accounts\r\n") {
		t.Fatalf("body:\n%s", body)
	}
	if strings.Contains(mails[0], "\r\nBcc:") {
		t.Errorf("the account's name broke into a line of its own:\n%s", mails[0])
	}
}
