package portal_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
)

// grantsOf are the grants of who, as the store holds them.
func (e *env) grantsOf(who string) []governance.Grant {
	e.t.Helper()
	got, err := e.access.AccessFor(context.Background(), "u-"+who, governance.Viewer{SeesAll: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return got.Grants
}

// Break-glass is offered to the eligible only, and activates at once with a reason; whoever is
// not eligible finds no such form, and a forged one answers not found with nothing granted.
func TestBreakGlassOnTheSecurityPage(t *testing.T) {
	e, m := withMockIdP(t)
	ada, bob := e.browser(), e.browser()
	e.signIn(m, ada, "ada")
	e.signIn(m, bob, "bob")
	page := ada.get(e.url + "/security")
	if page.status != 200 || !strings.Contains(page.body, `action="/security/break-glass/db-root"`) || !strings.Contains(page.body, "at most 1 hour") || !strings.Contains(page.body, "The longest allowed (1 hour)") {
		t.Fatalf("ada's security page: %d %s", page.status, page.body)
	}
	if page := bob.get(e.url + "/security"); strings.Contains(page.body, "db-root") || !strings.Contains(page.body, "No emergency access is set up for you") {
		t.Fatalf("bob is offered break-glass: %s", page.body)
	}

	// Refusals, each a sentence, and nothing granted.
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"reason": {"  "}}, "Say why you need emergency access"},
		{url.Values{"reason": {"INC-1"}, "duration": {"4h"}}, "longer than emergency access may last"},
		{url.Values{"reason": {"INC-1"}, "duration": {"forever"}}, "Choose a duration from the list"},
		{url.Values{"reason": {strings.Repeat("x", 2001)}}, "too long"},
	} {
		got := ada.follow(ada.post(e.url+"/security/break-glass/db-root", c.form))
		if !strings.Contains(got.body, c.want) || !strings.Contains(got.body, `role="alert"`) {
			t.Errorf("%v: want %q in %s", c.form, c.want, got.body)
		}
	}
	for _, who := range []struct {
		b    *browser
		path string
	}{{bob, "/security/break-glass/db-root"}, {ada, "/security/break-glass/db-read"}, {ada, "/security/break-glass/no-such"}} {
		got := who.b.post(e.url+who.path, url.Values{"reason": {"INC-1"}})
		if notFound := who.b.get(e.url + "/security/nothing-here"); got.status != http.StatusNotFound || got.body != notFound.body {
			t.Errorf("%s: %d, want the not-found page", who.path, got.status)
		}
	}
	// A form posted from another site is refused before anything is done.
	if got := ada.do("POST", e.url+"/security/break-glass/db-root", url.Values{"reason": {"INC-1"}},
		http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Fatalf("a cross-site activation: %d", got.status)
	}
	if g := e.grantsOf("ada"); len(g) != 0 {
		t.Fatalf("a refused activation granted: %+v", g)
	}
	if g := e.grantsOf("bob"); len(g) != 0 {
		t.Fatalf("bob broke the glass: %+v", g)
	}

	done := ada.follow(ada.post(e.url+"/security/break-glass/db-root", url.Values{"reason": {"INC-42: primary is down"}, "duration": {"1h0m0s"}}))
	if done.url.Path != "/security" || !strings.Contains(done.body, "Emergency access to Database root is yours until "+e.now.Add(time.Hour).UTC().Format("2 Jan 2006 15:04 UTC")) {
		t.Fatalf("after activating: %s %s", done.url, done.body)
	}
	g := e.grantsOf("ada")
	if len(g) != 1 || !g[0].Emergency || g[0].Status != governance.GrantActive {
		t.Fatalf("ada's grants after activating: %+v", g)
	}
	// Her own activation is listed for her, without a close form: she is not security.
	if !strings.Contains(done.body, "Your emergency access under review") || !strings.Contains(done.body, "INC-42: primary is down") ||
		strings.Contains(done.body, "/close") {
		t.Fatalf("ada's own review: %s", done.body)
	}
	if page := bob.get(e.url + "/security"); strings.Contains(page.body, "INC-42") {
		t.Fatal("bob sees ada's incident review")
	}
}

// Security admins see every open incident review with its due time, overdue ones marked, and
// close them with findings; an auditor sees them and cannot close; a closed review is said so.
func TestIncidentReviewsAreClosedBySecurityAdmins(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	if _, _, err := e.breakGlass.Activate(ctx, "u-ada", "db-root", "INC-42", 0); err != nil {
		t.Fatal(err)
	}
	// An older review, past its SLA.
	if _, err := e.store.CreateIncidentReview(ctx, governance.IncidentReview{ID: "incident-old", Grant: "grant-old", Identity: "u-ada",
		Entitlement: "db-root", Justification: "INC-7", Activated: e.now.Add(-3 * time.Hour), Due: e.now.Add(-2 * time.Hour),
		State: governance.IncidentOpen, Notified: true}, governance.Event{At: e.now, Actor: "test", Action: "test", Target: "incident:incident-old"}); err != nil {
		t.Fatal(err)
	}
	sec, aud, bob := e.browser(), e.browser(), e.browser()
	e.signIn(m, sec, "sec")
	e.signIn(m, aud, "aud")
	e.signIn(m, bob, "bob")
	page := sec.get(e.url + "/security")
	if !strings.Contains(page.body, "Open incident reviews") || !strings.Contains(page.body, "INC-42") || !strings.Contains(page.body, "Findings for Ada, Database root") ||
		!strings.Contains(page.body, e.now.Add(time.Hour).UTC().Format("2 Jan 2006 15:04 UTC")) || strings.Count(page.body, ">overdue<") != 1 ||
		!strings.Contains(page.body, `action="/security/incidents/incident-`) {
		t.Fatalf("the security admin's page: %s", page.body)
	}
	if page := aud.get(e.url + "/security"); !strings.Contains(page.body, "INC-42") || strings.Contains(page.body, "/close") {
		t.Fatalf("the auditor's page: %s", page.body)
	}
	reviews, err := e.breakGlass.IncidentReviewsFor(ctx, governance.Viewer{SeesAll: true})
	if err != nil {
		t.Fatal(err)
	}
	id := reviews[0].ID
	closeURL := e.url + "/security/incidents/" + id + "/close"
	for _, b := range []*browser{aud, bob} {
		got := b.post(closeURL, url.Values{"findings": {"fine"}})
		if notFound := b.get(e.url + "/nothing-here"); got.status != http.StatusNotFound || got.body != notFound.body {
			t.Fatalf("closed by someone not security: %d", got.status)
		}
	}
	if got := sec.post(e.url+"/security/incidents/no-such/close", url.Values{"findings": {"fine"}}); got.status != http.StatusNotFound {
		t.Fatalf("an unknown review: %d", got.status)
	}
	if got := sec.follow(sec.post(closeURL, url.Values{"findings": {" "}})); !strings.Contains(got.body, "Write what you found") {
		t.Fatalf("closing without findings: %s", got.body)
	}
	if got := sec.follow(sec.post(closeURL, url.Values{"findings": {"Primary failed over; access used as declared."}})); !strings.Contains(got.body, "The incident review is closed") {
		t.Fatalf("closing: %s", got.body)
	}
	// The same form sent twice (a double click): the second is told, and nothing changes.
	if got := sec.follow(sec.post(closeURL, url.Values{"findings": {"again"}})); !strings.Contains(got.body, "already closed") {
		t.Fatalf("closing twice: %s", got.body)
	}
	r, err := e.store.GetIncidentReview(ctx, id)
	if err != nil || r.State != governance.IncidentClosed || r.ClosedBy != "u-sec" || r.Findings != "Primary failed over; access used as declared." {
		t.Fatalf("the review after closing: %+v %v", r, err)
	}
}

// A person registers a service account they own and sees only their own; a security admin sees
// every one and gives one a new owner; nobody else may, and hostile input changes nothing.
func TestServiceAccountsOnTheSecurityPage(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	ada, bob, sec := e.browser(), e.browser(), e.browser()
	e.signIn(m, ada, "ada")
	e.signIn(m, bob, "bob")
	e.signIn(m, sec, "sec")
	deadline := e.now.AddDate(0, 0, 90).Format(time.DateOnly)
	field := `<input id="sa-deadline" name="deadline" type="date" required min="` + e.now.AddDate(0, 0, 1).Format(time.DateOnly) +
		`" max="` + e.now.AddDate(0, 0, 365).Format(time.DateOnly) + `">`
	if form := ada.get(e.url + "/security"); !strings.Contains(form.body, field) {
		t.Fatalf("the registration form lacks %s", field)
	}
	got := ada.follow(ada.post(e.url+"/security/service-accounts", url.Values{"id": {"etl-bot"}, "name": {"Nightly ETL"}, "deadline": {deadline}}))
	if !strings.Contains(got.body, "The service account etl-bot is registered, with you as its owner") || !strings.Contains(got.body, "Nightly ETL (etl-bot)") ||
		!strings.Contains(got.body, e.now.AddDate(0, 0, 90).Format("2 Jan 2006")+" 00:00 UTC") {
		t.Fatalf("registering: %s", got.body)
	}
	for form, want := range map[string]url.Values{
		"A service account with the id etl-bot already exists": {"id": {"etl-bot"}, "name": {"Again"}, "deadline": {deadline}},
		"Give the account a name":                              {"id": {"../../x"}, "name": {"Bad"}, "deadline": {deadline}},
		"no person or account already has":                     {"id": {"u-bob"}, "name": {"Impostor"}, "deadline": {deadline}},
		"Choose the deadline&#39;s day from the calendar":      {"id": {"no-deadline"}, "name": {"None"}},
		"Choose a deadline from " + e.now.AddDate(0, 0, 1).Format(time.DateOnly): {"id": {"far-bot"}, "name": {"Far"},
			"deadline": {e.now.AddDate(2, 0, 0).Format(time.DateOnly)}},
	} {
		if got := ada.follow(ada.post(e.url+"/security/service-accounts", want)); !strings.Contains(got.body, form) {
			t.Errorf("%v: want %q in %s", want, form, got.body)
		}
	}
	if page := bob.get(e.url + "/security"); strings.Contains(page.body, "etl-bot") || !strings.Contains(page.body, "You own no service account") {
		t.Fatalf("bob sees ada's account: %s", page.body)
	}
	page := sec.get(e.url + "/security")
	if !strings.Contains(page.body, "Nightly ETL (etl-bot)") || !strings.Contains(page.body, `action="/security/service-accounts/etl-bot/owner"`) {
		t.Fatalf("the security admin's list: %s", page.body)
	}
	reassign := e.url + "/security/service-accounts/etl-bot/owner"
	for _, b := range []*browser{ada, bob} {
		got := b.post(reassign, url.Values{"owner": {"bob@example.org"}})
		if notFound := b.get(e.url + "/nothing-here"); got.status != http.StatusNotFound || got.body != notFound.body {
			t.Fatalf("a reassignment by someone not security: %d", got.status)
		}
	}
	if got := sec.post(e.url+"/security/service-accounts/no-such/owner", url.Values{"owner": {"bob@example.org"}}); got.status != http.StatusNotFound {
		t.Fatalf("an unknown account: %d", got.status)
	}
	for owner, want := range map[string]string{"nobody@example.org": "Nobody has the user name", "gone@example.org": "is no longer active"} {
		if got := sec.follow(sec.post(reassign, url.Values{"owner": {owner}})); !strings.Contains(got.body, want) {
			t.Errorf("to %s: want %q", owner, want)
		}
	}
	if sa, err := e.store.GetServiceAccount(ctx, "etl-bot"); err != nil || sa.Owner != "u-ada" {
		t.Fatalf("a refused reassignment changed the owner: %+v %v", sa, err)
	}
	if got := sec.follow(sec.post(reassign, url.Values{"owner": {"bob@example.org"}, "reason": {"ada moved teams"}})); !strings.Contains(got.body, "Nightly ETL now belongs to Bob") {
		t.Fatalf("reassigning: %s", got.body)
	}
	if page := bob.get(e.url + "/security"); !strings.Contains(page.body, "Nightly ETL (etl-bot)") {
		t.Fatal("the new owner does not see the account")
	}
	// A security admin registers one for someone else; a requester may not, nor may anyone
	// give one to a deactivated person.
	if got := ada.follow(ada.post(e.url+"/security/service-accounts", url.Values{"id": {"bob-bot"}, "name": {"Bob's bot"}, "owner": {"bob@example.org"}, "deadline": {deadline}})); !strings.Contains(got.body, "Only security admins register a service account for someone else") {
		t.Fatalf("a requester registering for bob: %s", got.body)
	}
	if got := sec.follow(sec.post(e.url+"/security/service-accounts", url.Values{"id": {"gone-bot"}, "name": {"Gone's bot"}, "owner": {"gone@example.org"}, "deadline": {deadline}})); !strings.Contains(got.body, "is no longer active") {
		t.Fatalf("registering for a deactivated person: %s", got.body)
	}
	if got := sec.do("POST", e.url+"/security/service-accounts", url.Values{"id": {"forged-bot"}, "name": {"Forged"}, "deadline": {deadline}},
		http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Fatalf("a cross-site registration: %d", got.status)
	}
	for _, id := range []string{"bob-bot", "gone-bot", "no-deadline", "far-bot", "forged-bot"} {
		if _, err := e.store.GetServiceAccount(ctx, id); !errors.Is(err, governance.ErrNotFound) {
			t.Fatalf("a refused registration created %s: %v", id, err)
		}
	}
	if got := sec.follow(sec.post(e.url+"/security/service-accounts", url.Values{"id": {"ada-bot"}, "name": {"Ada's bot"}, "owner": {"ada@example.org"}, "deadline": {deadline}})); !strings.Contains(got.body, "registered, with Ada as its owner") {
		t.Fatalf("a security admin registering for ada: %s", got.body)
	}
	if sa, err := e.store.GetServiceAccount(ctx, "ada-bot"); err != nil || sa.Owner != "u-ada" {
		t.Fatalf("ada's bot: %+v %v", sa, err)
	}
}

// Drift per application: admins and auditors read the last report of each application with a
// target; admins reconcile now, and a target that fails is said so; others find no such form.
func TestDriftOnTheSecurityPage(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	body := []byte(`{"id":"dir","name":"Directory","owners":["u-cat"],"connector":"corp-ldap"}`)
	if _, err := e.store.PutCatalogItem(ctx, governance.CatalogItem{Kind: governance.KindApplication, ID: "dir", Body: body},
		governance.Event{At: e.now, Actor: "test", Action: "catalog.seed", Target: "application:dir", After: body}); err != nil {
		t.Fatal(err)
	}
	cat, aud, bob := e.browser(), e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, aud, "aud")
	e.signIn(m, bob, "bob")
	if page := cat.get(e.url + "/security"); !strings.Contains(page.body, "<td>Directory</td>") || !strings.Contains(page.body, "Never reconciled yet") ||
		!strings.Contains(page.body, `action="/security/drift/dir"`) || strings.Contains(page.body, "<td>Database</td>") {
		t.Fatalf("the catalog admin's drift: %s", page.body)
	}
	if err := e.store.SaveDrift(ctx, provisioning.DriftReport{Application: "dir", At: e.now, OutOfBand: 3, Missing: 1},
		governance.Event{At: e.now, Actor: "system", Action: "drift.report", Target: "application:dir"}); err != nil {
		t.Fatal(err)
	}
	if page := aud.get(e.url + "/security"); !strings.Contains(page.body, "<td>3</td><td>1</td>") || strings.Contains(page.body, `action="/security/drift/`) {
		t.Fatalf("the auditor's drift: %s", page.body)
	}
	if page := bob.get(e.url + "/security"); strings.Contains(page.body, "Drift per application") {
		t.Fatal("a requester sees drift")
	}
	for _, c := range []struct {
		b    *browser
		path string
	}{{bob, "/security/drift/dir"}, {aud, "/security/drift/dir"}, {cat, "/security/drift/db"}, {cat, "/security/drift/no-such"}} {
		got := c.b.post(e.url+c.path, nil)
		if notFound := c.b.get(e.url + "/nothing-here"); got.status != http.StatusNotFound || got.body != notFound.body {
			t.Errorf("%s: %d, want the not-found page", c.path, got.status)
		}
	}
	// The test's gateway configures no connector called corp-ldap: the target cannot be reached.
	if got := cat.follow(cat.post(e.url+"/security/drift/dir", nil)); !strings.Contains(got.body, "The target of Directory could not be reconciled") {
		t.Fatalf("a reconciliation that fails: %s", got.body)
	}
}

// Dead letters: those who see all read them; security admins retry one, once.
func TestDeadLettersOnTheSecurityPage(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	if err := e.store.DeadJob(ctx, provisioning.Job{Identity: "u-ada", Application: "db"}, "the group db-readers does not exist", e.now); err != nil {
		t.Fatal(err)
	}
	sec, aud, bob := e.browser(), e.browser(), e.browser()
	e.signIn(m, sec, "sec")
	e.signIn(m, aud, "aud")
	e.signIn(m, bob, "bob")
	if page := bob.get(e.url + "/security"); strings.Contains(page.body, "db-readers") {
		t.Fatal("a requester sees the dead letters")
	}
	if page := aud.get(e.url + "/security"); !strings.Contains(page.body, "the group db-readers does not exist") || strings.Contains(page.body, "/dead-letters/retry") {
		t.Fatalf("the auditor's dead letters: %s", page.body)
	}
	page := sec.get(e.url + "/security")
	if !strings.Contains(page.body, "<td>Ada</td><td>Database</td>") || !strings.Contains(page.body, "Retry for Ada in Database") {
		t.Fatalf("the security admin's dead letters: %s", page.body)
	}
	job := url.Values{"identity": {"u-ada"}, "application": {"db"}}
	for _, b := range []*browser{aud, bob} {
		got := b.post(e.url+"/security/dead-letters/retry", job)
		if notFound := b.get(e.url + "/nothing-here"); got.status != http.StatusNotFound || got.body != notFound.body {
			t.Fatalf("a retry by someone not security: %d", got.status)
		}
	}
	if dead, _ := e.worker.DeadLetters(ctx); len(dead) != 1 {
		t.Fatalf("a refused retry changed the dead letters: %+v", dead)
	}
	if got := sec.follow(sec.post(e.url+"/security/dead-letters/retry", job)); !strings.Contains(got.body, "The job is queued again") ||
		strings.Contains(got.body, "db-readers does not exist") {
		t.Fatalf("retrying: %s", got.body)
	}
	// The same form again (a double click, or a second admin): nothing is queued twice.
	if got := sec.follow(sec.post(e.url+"/security/dead-letters/retry", job)); !strings.Contains(got.body, "someone retried it already") {
		t.Fatalf("retrying twice: %s", got.body)
	}
	// A forged job that never died is told the same, and nothing is queued.
	forged := url.Values{"identity": {"u-bob\tx"}, "application": {"db"}}
	if got := sec.follow(sec.post(e.url+"/security/dead-letters/retry", forged)); !strings.Contains(got.body, "someone retried it already") {
		t.Fatalf("a forged job: %s", got.body)
	}
}
