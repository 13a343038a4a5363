package portal_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// granted has who ask for db-read and their manager approve it: a grant, active (the test
// applications are records only).
func (e *env) granted(who string) governance.Grant {
	e.t.Helper()
	r := e.ask(who)
	if _, err := e.access.Decide(context.Background(), r.ID, "u-mgr", true, "fine by me"); err != nil {
		e.t.Fatal(err)
	}
	g, err := e.access.Grants.Store.GetGrant(context.Background(), governance.GrantID(r.ID))
	if err != nil || g.Status != governance.GrantActive {
		e.t.Fatalf("the grant: %+v %v", g, err)
	}
	return g
}

// grantOf reads a grant as it is stored.
func (e *env) grantOf(id string) governance.Grant {
	e.t.Helper()
	g, err := e.access.Grants.Store.GetGrant(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

func TestMyAccessShowsGrantsWithExpiryAndProvenance(t *testing.T) {
	e, m := withMockIdP(t)
	g := e.granted("ada")
	// ada owns a service account holding access too.
	ctx := context.Background()
	if _, err := e.store.CreateServiceAccount(ctx, governance.ServiceAccount{ID: "sa-report", Name: "report-bot", Owner: "u-ada",
		State: governance.ServiceAccountActive, Created: e.now, Updated: e.now}, governance.Event{At: e.now, Actor: "test", Action: "sa.create"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.CreateGrant(ctx, governance.Grant{ID: "grant-sa", Identity: "sa-report", Entitlement: "db-read", Status: governance.GrantActive,
		Source: "api", Starts: e.now, Created: e.now.Add(time.Second), Updated: e.now}, nil, "", governance.Event{At: e.now, Actor: "test", Action: "grant.create"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	e.signIn(m, b, "ada")
	list := b.get(e.url + "/access")
	for _, want := range []string{`href="/access/` + g.ID + `"`, "8 hours left", g.Ends.UTC().Format("2 Jan 2006 15:04 UTC"), ">Request<",
		`href="/access/grant-sa"`, "Service account</span> report-bot", "No end date", `aria-current="page">My access`} {
		if !strings.Contains(list.body, want) {
			t.Errorf("My access lacks %q", want)
		}
	}
	page := b.get(e.url + "/access/" + g.ID)
	for _, want := range []string{"Approved by</dt><dd>Mgr", "Asked by</dt><dd>Ada", "Why</dt><dd>reporting", "Under the policy</dt><dd>manager",
		"Mgr approved", "fine by me", "Ask to extend", "Give up this access", "Database",
		`<a href="/requests/` + g.Request + `">The request, stage by stage</a>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the grant's page lacks %q", want)
		}
	}
	if sa := b.get(e.url + "/access/grant-sa"); sa.status != 200 || !strings.Contains(sa.body, "which you own") {
		t.Errorf("the service account's grant: %d", sa.status)
	}

	// Someone else's grant is, to bob, a page that does not exist: like a missing id.
	bob := e.browser()
	e.signIn(m, bob, "bob")
	missing := bob.get(e.url + "/access/grant-nothing")
	for _, path := range []string{"/access/" + g.ID, "/access/grant-sa"} {
		if got := bob.get(e.url + path); got.status != http.StatusNotFound || got.body != missing.body {
			t.Errorf("bob opened %s: %d", path, got.status)
		}
	}
	if strings.Contains(bob.get(e.url+"/access").body, g.ID) {
		t.Error("bob's My access lists ada's grant")
	}
	// Signed out, the area sends to sign in.
	if got := e.browser().get(e.url + "/access"); got.status != http.StatusSeeOther || got.header.Get("Location") != "/?signin=required" {
		t.Errorf("signed out: %d %s", got.status, got.header.Get("Location"))
	}
}

func TestMyAccessPagesByCursor(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	var ids []string
	for i := range 30 {
		g := governance.Grant{ID: "grant-p" + string(rune('a'+i/10)) + string(rune('a'+i%10)), Identity: "u-ada", Entitlement: "db-read",
			Status: governance.GrantActive, Source: "api", Starts: e.now, Created: e.now.Add(time.Duration(i) * time.Second), Updated: e.now}
		if _, _, err := e.store.CreateGrant(ctx, g, nil, "", governance.Event{At: e.now, Actor: "test", Action: "grant.create"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	b := e.browser()
	e.signIn(m, b, "ada")
	first := b.get(e.url + "/access")
	if !strings.Contains(first.body, `href="/access?after=`+ids[24]+`"`) || strings.Contains(first.body, `"/access/`+ids[25]+`"`) {
		t.Fatalf("the first page does not end at the 25th grant with a link on")
	}
	// A grant added while ada reads comes last: the next page neither skips nor repeats one.
	late := governance.Grant{ID: "grant-late", Identity: "u-ada", Entitlement: "db-read", Status: governance.GrantActive, Source: "api",
		Starts: e.now, Created: e.now.Add(time.Hour), Updated: e.now}
	if _, _, err := e.store.CreateGrant(ctx, late, nil, "", governance.Event{At: e.now, Actor: "test", Action: "grant.create"}); err != nil {
		t.Fatal(err)
	}
	next := b.get(e.url + "/access?after=" + ids[24])
	for i, id := range ids {
		if listed := strings.Contains(next.body, `"/access/`+id+`"`); listed != (i >= 25) {
			t.Errorf("grant %d listed %v on the second page", i, listed)
		}
	}
	if !strings.Contains(next.body, `"/access/grant-late"`) || strings.Contains(next.body, "after=") {
		t.Error("the second page lacks the late grant, or offers a third")
	}
}

func TestGiveUpAccessIsARevocationByTheHolder(t *testing.T) {
	e, m := withMockIdP(t)
	g := e.granted("ada")
	b := e.browser()
	e.signIn(m, b, "ada")
	path := e.url + "/access/" + g.ID + "/give-up"

	// Hostile input first: no reason, a reason over the cap, another's grant, another site.
	if got := b.follow(b.post(path, url.Values{"reason": {"   "}})); !strings.Contains(got.body, "Say why you no longer need this access") {
		t.Errorf("no reason: %s", got.body)
	}
	if got := b.follow(b.post(path, url.Values{"reason": {strings.Repeat("x", 2001)}})); !strings.Contains(got.body, "Nothing was changed") {
		t.Errorf("a reason too long: %s", got.body)
	}
	bob := e.browser()
	e.signIn(m, bob, "bob")
	if got := bob.post(path, url.Values{"reason": {"not mine"}}); got.status != http.StatusNotFound {
		t.Errorf("bob gave up ada's grant: %d", got.status)
	}
	if got := b.do("POST", path, url.Values{"reason": {"forged"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Errorf("a cross-site give-up: %d", got.status)
	}
	if got := e.grantOf(g.ID); got.Status != governance.GrantActive {
		t.Fatalf("refused give-ups changed the grant: %+v", got)
	}

	// Two at once (a double click): both are answered, and the grant is revoked once (the
	// trail below holds one revocation). The flash of either may be the one shown.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if a := b.post(path, url.Values{"reason": {"project finished"}}); a.status != http.StatusSeeOther {
				t.Errorf("a give-up of the double click: %d", a.status)
			}
		})
	}
	wg.Wait()
	if again := b.follow(b.post(path, url.Values{"reason": {"again"}})); !strings.Contains(again.body, "already ended or is being removed") {
		t.Errorf("giving up what was given up: %s", again.body)
	}
	got := e.grantOf(g.ID)
	if got.Status != governance.GrantRevoked || !strings.Contains(got.Reason, "project finished") {
		t.Fatalf("the grant after giving it up: %+v", got)
	}
	page := b.get(e.url + "/access/" + g.ID)
	if !strings.Contains(page.body, `state-revoked">removed<`) || !strings.Contains(page.body, "project finished") || strings.Contains(page.body, "Give up this access") {
		t.Errorf("the grant's page after giving it up: %s", page.body)
	}
	if list := b.get(e.url + "/access"); !strings.Contains(list.body, "Access that ended") || !strings.Contains(list.body, "project finished") {
		t.Errorf("My access does not show the ended grant")
	}
	// The trail says the holder did it, and why.
	var revokes []governance.Event
	for ev, err := range e.store.AuditEvents(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		var x governance.Event
		_ = json.Unmarshal(ev.Body, &x)
		if x.Action == "grant.revoke" {
			revokes = append(revokes, x)
		}
	}
	if len(revokes) != 1 || revokes[0].Actor != "user:u-ada" || !strings.Contains(revokes[0].Reason, "project finished") {
		t.Errorf("audited revocations: %+v", revokes)
	}
}

func TestExtendWithinPolicy(t *testing.T) {
	e, m := withMockIdP(t)
	g := e.granted("ada")
	b := e.browser()
	e.signIn(m, b, "ada")
	path := e.url + "/access/" + g.ID + "/extend"
	// The harness's policy allows no extension: the domain refuses, and says why.
	if got := b.follow(b.post(path, url.Values{"justification": {"more"}, "duration": {"4h"}})); !strings.Contains(got.body, "does not let you extend") {
		t.Fatalf("an extension the policy refuses: %s", got.body)
	}
	e.put(context.Background(), governance.KindPolicy, "by-manager", map[string]any{"id": "by-manager", "name": "manager", "extensions": true,
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}})
	if got := b.follow(b.post(path, url.Values{"duration": {"forever"}})); !strings.Contains(got.body, "Choose a duration from the list") {
		t.Errorf("a duration not offered: %s", got.body)
	}
	bob := e.browser()
	e.signIn(m, bob, "bob")
	if got := bob.post(path, url.Values{"duration": {"4h"}}); got.status != http.StatusNotFound {
		t.Errorf("bob extended ada's grant: %d", got.status)
	}
	sent := b.post(path, url.Values{"justification": {"month-end runs late"}, "duration": {"4h"}})
	page := b.follow(sent)
	if !strings.Contains(page.body, "Your request to extend this access is sent") || !strings.Contains(page.body, "Awaiting: Mgr") {
		t.Fatalf("after asking to extend: %s", page.body)
	}
	id := strings.TrimPrefix(sent.location(t).Path, "/requests/")
	r, err := e.access.RequestFor(context.Background(), id, governance.Viewer{ID: "u-ada"})
	if err != nil || r.Extends != g.ID || r.Justification != "month-end runs late" {
		t.Fatalf("the extension request: %+v %v", r, err)
	}
	if again := b.follow(b.post(path, url.Values{"duration": {"4h"}})); !strings.Contains(again.body, "You already asked to extend") {
		t.Errorf("asking twice: %s", again.body)
	}
}

// Seeing everyone's access is no licence to give it up: to an auditor, someone else's grant
// is not found. The owner of a service account gives up its access as their own.
func TestGiveUpIsTheHoldersOnly(t *testing.T) {
	e, _ := withMockIdP(t)
	ctx := context.Background()
	g := e.granted("ada")
	if _, err := e.access.GiveUp(ctx, g.ID, governance.Viewer{ID: "u-cat", SeesAll: true}, "tidying"); !errors.Is(err, governance.ErrNotFound) {
		t.Errorf("an auditor gave up ada's grant: %v", err)
	}
	if _, err := e.access.GiveUp(ctx, "grant-nothing", governance.Viewer{ID: "u-ada"}, "gone"); !errors.Is(err, governance.ErrNotFound) {
		t.Errorf("a missing grant: %v", err)
	}
	if _, err := e.store.CreateServiceAccount(ctx, governance.ServiceAccount{ID: "sa-bot", Name: "bot", Owner: "u-ada",
		State: governance.ServiceAccountActive, Created: e.now, Updated: e.now}, governance.Event{At: e.now, Actor: "test", Action: "sa.create"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.CreateGrant(ctx, governance.Grant{ID: "grant-bot", Identity: "sa-bot", Entitlement: "db-read", Status: governance.GrantActive,
		Source: "api", Starts: e.now, Created: e.now, Updated: e.now}, nil, "", governance.Event{At: e.now, Actor: "test", Action: "grant.create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.GiveUp(ctx, "grant-bot", governance.Viewer{ID: "u-bob"}, "not mine"); !errors.Is(err, governance.ErrNotFound) {
		t.Errorf("bob gave up ada's account's grant: %v", err)
	}
	if got, err := e.access.GiveUp(ctx, "grant-bot", governance.Viewer{ID: "u-ada"}, "bot retired"); err != nil || !got.Status.Final() && got.Status != governance.GrantRevoking {
		t.Errorf("the owner giving up the account's grant: %+v %v", got, err)
	}
	if got := e.grantOf(g.ID); got.Status != governance.GrantActive {
		t.Errorf("refused give-ups changed ada's grant: %+v", got)
	}
}

// The owner sees their service accounts' deadlines on My access and extends one with a reason.
// To anyone else the form's target is not there, exactly like a missing id; a cross-site form
// is refused; bad input changes nothing; and an expired account offers no extension.
func TestServiceAccountDeadlinesOnMyAccess(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	sas := &governance.ServiceAccounts{Store: e.store, People: e.access.People, Now: func() time.Time { return e.now }}
	deadline := e.now.Add(30 * 24 * time.Hour)
	if _, err := sas.Create(ctx, "u-ada", governance.ServiceAccount{ID: "ci-bot", Name: "CI deployer", Deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	ada, bob := e.browser(), e.browser()
	e.signIn(m, ada, "ada")
	e.signIn(m, bob, "bob")
	list := ada.get(e.url + "/access")
	for _, want := range []string{`<h2 id="accounts">Service accounts you own</h2>`, "CI deployer (ci-bot)", date(deadline) + " (30 days left)",
		`action="/access/service-accounts/ci-bot/deadline"`, `min="` + e.now.AddDate(0, 0, 1).Format(time.DateOnly) + `"`} {
		if !strings.Contains(list.body, want) {
			t.Errorf("My access lacks %q", want)
		}
	}
	if strings.Contains(bob.get(e.url+"/access").body, "ci-bot") {
		t.Fatal("bob's My access shows ada's account")
	}

	path := e.url + "/access/service-accounts/ci-bot/deadline"
	later := e.now.AddDate(0, 0, 200).Format(time.DateOnly)
	theirs := bob.post(path, url.Values{"deadline": {later}, "reason": {"mine now"}})
	missing := bob.post(e.url+"/access/service-accounts/no-such-bot/deadline", url.Values{"deadline": {later}, "reason": {"mine now"}})
	if theirs.status != http.StatusNotFound || theirs.body != missing.body {
		t.Fatalf("bob extending ada's account: %d, unlike a missing id's %d", theirs.status, missing.status)
	}
	if got := ada.do("POST", path, url.Values{"deadline": {later}, "reason": {"forged"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Fatalf("a cross-site extension: %d", got.status)
	}
	for want, form := range map[string]url.Values{
		"Say why the account needs the new deadline":                             {"deadline": {later}, "reason": {"  "}},
		"Choose the deadline&#39;s day from the calendar":                        {"deadline": {"next summer"}, "reason": {"x"}},
		"Choose a deadline from " + e.now.AddDate(0, 0, 1).Format(time.DateOnly): {"deadline": {e.now.AddDate(0, 0, 400).Format(time.DateOnly)}, "reason": {"x"}},
		"The reason is too long":                                                 {"deadline": {later}, "reason": {strings.Repeat("x", 2001)}},
	} {
		if got := ada.follow(ada.post(path, form)); !strings.Contains(got.body, want) {
			t.Errorf("%v: want %q", form, want)
		}
	}
	if sa, err := e.store.GetServiceAccount(ctx, "ci-bot"); err != nil || sa.Version != 1 {
		t.Fatalf("refused extensions changed the account: %+v %v", sa, err)
	}
	day, _ := time.Parse(time.DateOnly, later)
	if got := ada.follow(ada.post(path, url.Values{"deadline": {later}, "reason": {"the migration runs till summer"}})); !strings.Contains(got.body, "CI deployer now expires on "+date(day)) {
		t.Fatalf("extending: %s", got.body)
	}
	if sa, _ := e.store.GetServiceAccount(ctx, "ci-bot"); !sa.Deadline.Equal(day) {
		t.Fatalf("extended to %v, want %v", sa.Deadline, day)
	}

	// Its deadline comes: no form, and a form sent from a page read before is refused. Ada's
	// session of 200 days ago has long ended: she signs in again.
	e.now = day
	e.signIn(m, ada, "ada")
	if page := ada.get(e.url + "/access"); !strings.Contains(page.body, "Expired for good") || strings.Contains(page.body, `action="/access/service-accounts/ci-bot/deadline"`) {
		t.Fatalf("an account at its deadline still offers an extension: %s", page.body)
	}
	if got := ada.follow(ada.post(path, url.Values{"deadline": {e.now.AddDate(0, 0, 30).Format(time.DateOnly)}, "reason": {"too late"}})); !strings.Contains(got.body, "expired, for good") {
		t.Fatalf("extending at the deadline: %s", got.body)
	}
}
