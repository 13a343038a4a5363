package portal_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// The audit area is for auditors and security admins: to anyone else every page of it is the
// not-found page, and it is not in their nav.
func TestAuditIsForAuditorsAndSecurityAdmins(t *testing.T) {
	e, m := withMockIdP(t)
	r := e.ask("ada")
	bob, cat, aud, sec := e.browser(), e.browser(), e.browser(), e.browser()
	for name, b := range map[string]*browser{"bob": bob, "cat": cat, "aud": aud, "sec": sec} {
		e.signIn(m, b, name)
	}
	for _, b := range []*browser{bob, cat} {
		notFound := b.get(e.url + "/nothing-here")
		if home := b.get(e.url + "/"); strings.Contains(home.body, `href="/audit"`) {
			t.Fatal("the audit area is in a non-auditor's nav")
		}
		for _, path := range []string{"/audit", "/audit?actor=user:u-ada", "/audit/export?format=csv", "/audit/grants/" + governance.GrantID(r.ID)} {
			if got := b.get(e.url + path); got.status != http.StatusNotFound || got.body != notFound.body {
				t.Errorf("%s for a non-auditor: %d", path, got.status)
			}
		}
	}
	for _, b := range []*browser{aud, sec} {
		if got := b.get(e.url + "/audit"); got.status != 200 || !strings.Contains(got.body, `href="/audit" aria-current="page"`) ||
			!strings.Contains(got.body, "request.submit") {
			t.Errorf("the audit area for an auditor: %d %s", got.status, got.body)
		}
	}
}

// putEvents writes n catalog changes, each with its audit event.
func (e *env) putEvents(n int) {
	e.t.Helper()
	for i := range n {
		id := fmt.Sprintf("note-%d", i)
		body := fmt.Appendf(nil, `{"id":%q}`, id)
		if _, err := e.store.PutCatalogItem(context.Background(), governance.CatalogItem{Kind: governance.KindApplication, ID: id, Body: body},
			governance.Event{At: e.now, Actor: "user:u-cat", Action: "catalog.note", Target: "application:" + id, After: body}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// The search filters by actor, action, target and window, and pages by cursor; input it cannot
// read is told in a sentence and nothing is searched.
func TestAuditSearch(t *testing.T) {
	e, m := withMockIdP(t)
	e.ask("ada")
	e.ask("bob")
	e.putEvents(55)
	aud := e.browser()
	e.signIn(m, aud, "aud")
	got := aud.get(e.url + "/audit?actor=user:u-ada&action=request.*")
	if got.status != 200 || !strings.Contains(got.body, "Ada (user:u-ada)") || strings.Contains(got.body, "user:u-bob") || strings.Contains(got.body, "catalog.note") {
		t.Fatalf("by actor and action: %d %s", got.status, got.body)
	}
	// The export links carry the same filters.
	if !strings.Contains(got.body, `href="/audit/export?action=request.%2A&amp;actor=user%3Au-ada&amp;format=csv"`) {
		t.Fatalf("the export link: %s", got.body)
	}
	first := aud.get(e.url + "/audit?action=catalog.note")
	if n := strings.Count(first.body, "<td>catalog.note</td>"); n != 50 || !strings.Contains(first.body, "Next events") {
		t.Fatalf("the first page: %d events", n)
	}
	i := strings.Index(first.body, `<a href="/audit?`)
	next := strings.ReplaceAll(first.body[i+len(`<a href="`):strings.Index(first.body[i:], `">Next`)+i], "&amp;", "&")
	second := aud.get(e.url + next)
	if n := strings.Count(second.body, "<td>catalog.note</td>"); n != 5 || strings.Contains(second.body, "Next events") {
		t.Fatalf("the second page (%s): %d events", next, n)
	}
	for query, want := range map[string]string{
		"since=yesterday":                               "From is not a date and time",
		"until=2026-13-40T99:00":                        "Until is not a date and time",
		"since=2026-11-30T10:00&until=2026-11-30T09:00": "From must come before Until",
		"after=../../etc":                               "This page link is broken",
		"after=1-0%0D%0AFLUSHALL":                       "This page link is broken",
	} {
		got := aud.get(e.url + "/audit?" + query)
		if got.status != http.StatusBadRequest || !strings.Contains(got.body, want) || strings.Contains(got.body, "<caption>Events") {
			t.Errorf("%s: %d, want %q", query, got.status, want)
		}
	}
	// A window that holds nothing says so.
	if got := aud.get(e.url + "/audit?since=2000-01-01T00:00&until=2000-01-02T00:00"); !strings.Contains(got.body, "No event matches") {
		t.Fatalf("an empty window: %s", got.body)
	}
}

// The downloads hold exactly what the search selects, in both formats; an unknown format is
// refused with a sentence.
func TestAuditExport(t *testing.T) {
	e, m := withMockIdP(t)
	ra, rb := e.ask("ada"), e.ask("bob")
	aud := e.browser()
	e.signIn(m, aud, "aud")
	got := aud.get(e.url + "/audit/export?format=csv&action=request.submit&actor=user:u-ada")
	if got.status != 200 || got.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		got.header.Get("Content-Disposition") != `attachment; filename="gatehouse-audit.csv"` {
		t.Fatalf("csv: %d %v", got.status, got.header)
	}
	rows, err := csv.NewReader(strings.NewReader(got.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][3] != "actor" || rows[1][3] != "user:u-ada" || rows[1][5] != "request.submit" || rows[1][6] != "request:"+ra.ID {
		t.Fatalf("csv rows: %v", rows)
	}
	got = aud.get(e.url + "/audit/export?format=jsonl&action=request.submit")
	var targets []string
	for line := range strings.Lines(got.body) {
		var rec governance.AuditRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		targets = append(targets, rec.Event.Target)
	}
	if got.header.Get("Content-Type") != "application/x-ndjson" || fmt.Sprint(targets) != fmt.Sprint([]string{"request:" + ra.ID, "request:" + rb.ID}) {
		t.Fatalf("jsonl: %v %s", targets, got.body)
	}
	for _, q := range []string{"format=xlsx", "", "format=csv&since=soon"} {
		if got := aud.get(e.url + "/audit/export?" + q); got.status != http.StatusBadRequest || !strings.Contains(got.body, `role="alert"`) && !strings.Contains(got.body, "Download not possible") {
			t.Errorf("%q: %d %s", q, got.status, got.body)
		}
	}
}

// A grant's page answers who asked, who approved under which policy, why, until when, and
// what the trail says since; a grant that does not exist is not found.
func TestAuditGrantPage(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	r := e.ask("ada")
	if _, err := e.access.Decide(ctx, r.ID, "u-mgr", true, "fine for the quarter"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.Fulfil(ctx, 10); err != nil {
		t.Fatal(err)
	}
	aud := e.browser()
	e.signIn(m, aud, "aud")
	page := aud.get(e.url + "/audit/grants/" + governance.GrantID(r.ID))
	for _, want := range []string{"<dd>Ada</dd>", "<dd>Database read (db-read) in Database</dd>", "reporting", "<dd>manager</dd>", "Mgr approved", "fine for the quarter",
		"<dt>Expires</dt><dd>" + e.now.Add(8*60*60*1e9).UTC().Format("2 Jan 2006 15:04 UTC"), "Never certified", "Not removed",
		"<td>request.submit</td>", "<td>grant.create</td>", "<td>grant.activate</td>", "confirmed by the target"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the grant's page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatal(page.body)
	}
	notFound := aud.get(e.url + "/nothing-here")
	for _, id := range []string{"grant-none", "%2E%2E%2Fadmin"} {
		if got := aud.get(e.url + "/audit/grants/" + id); got.status != http.StatusNotFound || got.body != notFound.body {
			t.Errorf("%s: %d", id, got.status)
		}
	}
}

// A grant whose story began before the store indexed audit events by subject (an upgrade)
// shows the same history, scanned from the trail: with its request's events unindexed, and
// with none of its events indexed.
func TestAuditGrantPageOfAStoryOlderThanTheIndex(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	r := e.ask("ada")
	if _, err := e.access.Decide(ctx, r.ID, "u-mgr", true, "fine for the quarter"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.Fulfil(ctx, 10); err != nil {
		t.Fatal(err)
	}
	aud := e.browser()
	e.signIn(m, aud, "aud")
	id := governance.GrantID(r.ID)
	want := aud.get(e.url + "/audit/grants/" + id)
	for _, part := range []string{"<td>request.submit</td>", "<td>request.approve</td>", "<td>grant.create</td>", "<td>grant.activate</td>"} {
		if !strings.Contains(want.body, part) {
			t.Fatalf("the grant's page read from the index lacks %q:\n%s", part, want.body)
		}
	}
	for _, keys := range [][]string{{"audit:of:request:" + r.ID}, {"audit:of:grant:" + id}} {
		e.forget(keys...)
		if got := aud.get(e.url + "/audit/grants/" + id); got.status != http.StatusOK || got.body != want.body {
			t.Fatalf("without %v the page differs: %d\n%s", keys, got.status, got.body)
		}
	}
}

// A review cycle's evidence downloads from the audit page, one row per item; to anyone but
// those who see everything it does not exist, nor does a cycle that names nothing.
func TestAuditCampaignEvidence(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	r := e.ask("ada")
	if _, err := e.access.Decide(ctx, r.ID, "u-mgr", true, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.Fulfil(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reviews.SaveCampaign(ctx, "u-cat", reviews.Campaign{ID: "q4", Name: "Database Q4", Owner: "u-sec",
		Scope:     reviews.CampaignScope{Applications: []string{"db"}},
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}, Duration: governance.Duration(72 * time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	cy, err := e.reviews.Launch(ctx, "q4", "u-sec", e.now)
	if err != nil {
		t.Fatal(err)
	}
	aud, bob := e.browser(), e.browser()
	e.signIn(m, aud, "aud")
	e.signIn(m, bob, "bob")
	if page := aud.get(e.url + "/audit"); !strings.Contains(page.body, `href="/audit/cycles/`+cy.ID+`/evidence"`) || !strings.Contains(page.body, "Database Q4") {
		t.Fatalf("the audit page's evidence: %s", page.body)
	}
	got := aud.get(e.url + "/audit/cycles/" + cy.ID + "/evidence")
	rows, err := csv.NewReader(strings.NewReader(got.body)).ReadAll()
	if err != nil || got.status != 200 || got.header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 2 ||
		rows[1][1] != governance.GrantID(r.ID) || rows[1][8] != "pending" {
		t.Fatalf("the evidence: %d %v %v", got.status, rows, err)
	}
	for _, c := range []struct {
		b  *browser
		id string
	}{{bob, cy.ID}, {aud, "no-such"}} {
		got := c.b.get(e.url + "/audit/cycles/" + c.id + "/evidence")
		if notFound := c.b.get(e.url + "/nothing-here"); got.status != http.StatusNotFound || got.body != notFound.body {
			t.Errorf("%s: %d", c.id, got.status)
		}
	}
}
