package provisioning_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/ldap"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/ldaptest"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

var (
	redisServer *redistest.Server
	slapd       *ldaptest.Server
)

// The Redis store is the queue and the drift store (it cannot say so itself: the store sits
// below this package).
var (
	_ provisioning.Queue      = (*redisstore.Store)(nil)
	_ provisioning.DriftStore = (*redisstore.Store)(nil)
)

func TestMain(m *testing.M) {
	var err error
	if redisServer, err = redistest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if slapd, err = ldaptest.Start(); err != nil {
		redisServer.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	slapd.Remove()
	redisServer.Stop()
	os.Exit(code)
}

// rig is the governed path with an LDAP application, a worker and a clock the test moves.
type rig struct {
	t        testing.TB
	store    *redisstore.Store
	access   *governance.Access
	worker   *provisioning.Worker
	now      atomic.Int64
	people   string // this test's user base in slapd
	groups   string // and group base
	services string // and service account base
}

var ous atomic.Int64

func newRig(t testing.TB) *rig {
	r := &rig{t: t}
	r.now.Store(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC).UnixNano())
	r.store = redisstore.New(redisServer.Client(t), redistest.Namespace(), r.clock)
	ctx := context.Background()

	n := ous.Add(1)
	ou := func(name string) string { return fmt.Sprintf("ou=%s%d,%s", name, n, ldaptest.BaseDN) }
	r.people, r.groups, r.services = ou("people"), ou("groups"), ou("services")
	groups := r.groups
	admin := r.admin()
	for _, name := range []string{"people", "groups", "services"} {
		add := goldap.NewAddRequest(ou(name), nil)
		add.Attribute("objectClass", []string{"organizationalUnit"})
		add.Attribute("ou", []string{fmt.Sprintf("%s%d", name, n)})
		if err := admin.Add(add); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"admins", "readers", "robots"} {
		add := goldap.NewAddRequest("cn="+g+","+groups, nil)
		add.Attribute("objectClass", []string{"groupOfNames"})
		add.Attribute("cn", []string{g})
		add.Attribute("member", []string{"cn=nobody"})
		if err := admin.Add(add); err != nil {
			t.Fatal(err)
		}
	}

	var ids atomic.Int64
	id := func() string { return fmt.Sprintf("r%d", ids.Add(1)) }
	people2 := &governance.People{Store: r.store}
	catalog := &governance.Catalog{Store: r.store, Identities: r.store, Now: r.clock, NewID: id}
	grants := &governance.Grants{Store: r.store, Now: r.clock}
	r.access = &governance.Access{Catalog: catalog, Requests: &governance.Requests{Store: r.store, Now: r.clock, NewID: id},
		Grants: grants, People: people2, Approved: r.store, ServiceAccounts: r.store}
	r.worker = &provisioning.Worker{Queue: r.store, Grants: grants, Catalog: catalog, People: people2, ServiceAccounts: r.store,
		MaxAttempts: 3, Now: r.clock}
	r.directory(ldap.Config{ServiceAccountBase: r.services})
	grants.Provisioning = provisioning.Inline{Worker: r.worker}

	for _, p := range []struct{ id, manager string }{{"mgr", ""}, {"ada", "mgr"}, {"bob", "mgr"}} {
		doc := map[string]any{"userName": p.id, "active": true, "displayName": "Display " + p.id, "name": map[string]string{"familyName": "Family"}}
		if p.manager != "" {
			doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": p.manager}}
		}
		raw, _ := json.Marshal(doc)
		if _, err := r.store.Create(ctx, governance.Write{Kind: governance.KindUser, ID: p.id, Document: raw, Keys: governance.Keys{Unique: p.id, Display: p.id}}); err != nil {
			t.Fatal(err)
		}
	}
	put := r.put
	put(governance.KindApplication, "dir", governance.Application{ID: "dir", Name: "Directory", Owners: []string{"mgr"}, Connector: "directory"})
	put(governance.KindPolicy, "mgr", governance.Policy{ID: "mgr", Name: "manager", Stages: []governance.PolicyStage{
		{Name: "manager", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}}})
	for _, e := range []string{"admins", "readers", "ghost-group", "robots"} {
		holders := governance.HoldersHumans
		if e == "robots" {
			holders = governance.HoldersBoth
		}
		put(governance.KindEntitlement, e, governance.Entitlement{ID: e, Name: e, Application: "dir", Owners: []string{"mgr"},
			Risk: governance.RiskLow, State: governance.EntitlementPublished, Requestable: true, Policy: "mgr", Holders: holders,
			MaxDuration: governance.Duration(8 * time.Hour)})
	}
	return r
}

// directory makes the worker's connector "directory" one with the rig's bases and, beside
// them, what cfg sets.
func (r *rig) directory(cfg ldap.Config) {
	r.t.Helper()
	cfg.URL, cfg.BindDN, cfg.Password, cfg.UserBase, cfg.GroupBase = slapd.URL(), ldaptest.AdminDN, ldaptest.AdminPass, r.people, r.groups
	conn, err := ldap.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(conn.Close)
	r.worker.Connector = func(name string) (connectors.Connector, bool) { return conn, name == "directory" }
}

func (r *rig) admin() *goldap.Conn {
	c, err := slapd.Admin()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// inLDAP reads the group in slapd: is uid=who a member (uid compares without case)?
func (r *rig) inLDAP(who, group string) bool {
	r.t.Helper()
	res, err := r.admin().Search(goldap.NewSearchRequest("cn="+group+","+r.groups, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"member"}, nil))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, m := range res.Entries[0].GetAttributeValues("member") {
		if dn, err := goldap.ParseDN(m); err == nil && strings.EqualFold(dn.RDNs[0].Attributes[0].Value, who) {
			return true
		}
	}
	return false
}

// approved asks for an entitlement as who, approved by the manager.
func (r *rig) approved(who, entitlement string) governance.Grant {
	r.t.Helper()
	ctx := context.Background()
	req, _, err := r.access.Submit(ctx, governance.Ask{Requester: who, Entitlement: entitlement})
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.access.Decide(ctx, req.ID, "mgr", true, ""); err != nil {
		r.t.Fatal(err)
	}
	g, err := r.store.GetGrant(ctx, governance.GrantID(req.ID))
	if err != nil {
		r.t.Fatal(err)
	}
	return g
}

func (r *rig) grant(id string) governance.Grant {
	g, err := r.store.GetGrant(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return g
}

func (r *rig) sweep() int {
	r.t.Helper()
	n, err := r.worker.Sweep(context.Background(), 100)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *rig) advance(d time.Duration) { r.now.Add(int64(d)) }

// put creates a catalog item, approved by a second admin where it needs one.
func (r *rig) put(kind governance.CatalogKind, id string, v any) {
	r.t.Helper()
	ctx := context.Background()
	res, err := r.access.Catalog.Put(ctx, "cat1", kind, id, 0, v, "")
	if err != nil {
		r.t.Fatal(err)
	}
	if res.Change != nil {
		if _, err := r.access.Catalog.Approve(ctx, res.Change.ID, "cat2", ""); err != nil {
			r.t.Fatal(err)
		}
	}
}

// driftMode sets what reconciliation does with the directory's out-of-band access.
func (r *rig) driftMode(mode string) {
	r.t.Helper()
	ctx := context.Background()
	app, v, err := governance.GetItem[governance.Application](ctx, r.access.Catalog, governance.KindApplication, "dir")
	if err != nil {
		r.t.Fatal(err)
	}
	app.Drift = mode
	if _, err := r.access.Catalog.Put(ctx, "cat1", governance.KindApplication, "dir", v, app, ""); err != nil {
		r.t.Fatal(err)
	}
}

// reconciler compares the directory with the grants; in drift mode review its reviews run
// through the access reviews answered beside it.
func (r *rig) reconciler() (*provisioning.Reconciler, *reviews.Service) {
	rev := &reviews.Service{CampaignStore: r.store, CycleStore: r.store, ItemStore: r.store, NoticeStore: r.store, Access: r.access, Trail: r.store, Now: r.clock}
	return &provisioning.Reconciler{Worker: r.worker, Store: r.store, Reviews: rev}, rev
}

// clock is the rig's time, which advance moves.
func (r *rig) clock() time.Time { return time.Unix(0, r.now.Load()).UTC() }

// Approval reaches slapd at once; revocation removes it; each is confirmed only after LDAP.
func TestApprovalAndRevocationReachLDAP(t *testing.T) {
	r := newRig(t)
	g := r.approved("ada", "admins")
	if g.Status != governance.GrantActive || !r.inLDAP("ada", "admins") {
		t.Fatalf("after approval: %s, in LDAP %v", g.Status, r.inLDAP("ada", "admins"))
	}
	if n := r.sweep(); n != 1 { // the queued job: already done inline, done again harmlessly
		t.Fatalf("jobs: %d", n)
	}
	if _, err := r.access.Grants.Revoke(context.Background(), g.ID, "user:sec", "no longer needed"); err != nil {
		t.Fatal(err)
	}
	if g = r.grant(g.ID); g.Status != governance.GrantRevoked || r.inLDAP("ada", "admins") {
		t.Fatalf("after revocation: %s, in LDAP %v", g.Status, r.inLDAP("ada", "admins"))
	}
}

// slapd down: the grant waits in provisioning (never active), the job is retried with backoff,
// and once slapd is back the grant lands exactly once.
func TestSlapdDownThenBack(t *testing.T) {
	r := newRig(t)
	slapd.Stop()
	g := r.approved("bob", "readers")
	if g.Status != governance.GrantProvisioning {
		t.Fatalf("with slapd down: %s", g.Status)
	}
	r.sweep() // fails, retried later
	if r.grant(g.ID).Status != governance.GrantProvisioning {
		t.Fatal("a grant said done without LDAP")
	}
	if err := slapd.Restart(); err != nil {
		t.Fatal(err)
	}
	if n := r.sweep(); n != 0 {
		t.Fatalf("a job ran before its backoff: %d", n)
	}
	r.advance(3 * time.Second)
	if n := r.sweep(); n != 1 {
		t.Fatalf("jobs after the backoff: %d", n)
	}
	if g = r.grant(g.ID); g.Status != governance.GrantActive || !r.inLDAP("bob", "readers") {
		t.Fatalf("after slapd came back: %s, in LDAP %v", g.Status, r.inLDAP("bob", "readers"))
	}
	activations := 0
	for e, err := range r.store.AuditEvents(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		var ev governance.Event
		_ = json.Unmarshal(e.Body, &ev)
		if ev.Action == "grant.activate" && ev.Target == "grant:"+g.ID {
			activations++
		}
	}
	if activations != 1 {
		t.Fatalf("activated %d times", activations)
	}
}

// A permanent failure (the LDAP group does not exist) dead-letters the job, and the grant
// says failed, never active.
func TestPermanentFailureIsDeadLettered(t *testing.T) {
	r := newRig(t)
	g := r.approved("ada", "ghost-group")
	r.sweep()
	if g = r.grant(g.ID); g.Status != governance.GrantFailed {
		t.Fatalf("a grant of a group that does not exist: %s", g.Status)
	}
	dead, err := r.store.DeadJobs(context.Background())
	if err != nil || len(dead) != 1 || dead[0].Identity != "ada" || dead[0].Reason == "" {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
}

// A dead letter is retried once however many ask at once, audited as the person's doing, and
// the worker's next sweep takes it up again. A job that is not a dead letter is not found.
func TestADeadLetterIsRetriedOnce(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	failedGrant := r.approved("ada", "ghost-group")
	r.sweep()
	dead, err := r.store.DeadJobs(ctx)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
	if err := r.worker.RetryDead(ctx, provisioning.Job{Identity: "bob", Application: dead[0].Application}, "sec"); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("retrying a job that is not dead: %v", err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- r.worker.RetryDead(ctx, dead[0].Job, "sec") }()
	}
	var ok, gone int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, governance.ErrNotFound):
			gone++
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || gone != 1 {
		t.Fatalf("two retries at once: %d queued, %d not found", ok, gone)
	}
	if dead, _ := r.store.DeadJobs(ctx); len(dead) != 0 {
		t.Fatalf("a retried job is still a dead letter: %+v", dead)
	}
	retries := 0
	for e, err := range r.store.AuditEvents(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		var ev governance.Event
		_ = json.Unmarshal(e.Body, &ev)
		if ev.Action == "provisioning.retry" && ev.Actor == "user:sec" && ev.Target == "identity:ada" {
			retries++
		}
	}
	if retries != 1 {
		t.Fatalf("%d retry events, want 1", retries)
	}
	if n := r.sweep(); n != 1 {
		t.Fatalf("the sweep after the retry took %d jobs", n)
	}
	// The grant failed for good: the retry reconciles what is left (nothing to give) and does
	// not bring it back.
	if dead, _ := r.store.DeadJobs(ctx); len(dead) != 0 {
		t.Fatalf("the retried job died again: %+v", dead)
	}
	if g := r.grant(failedGrant.ID); g.Status != governance.GrantFailed {
		t.Fatalf("a retry revived a failed grant: %s", g.Status)
	}
}

// Retryable failures that never end run out of attempts: dead, and failed.
func TestRetriesRunOut(t *testing.T) {
	r := newRig(t)
	slapd.Stop()
	defer func() {
		if err := slapd.Restart(); err != nil {
			t.Fatal(err)
		}
	}()
	g := r.approved("ada", "readers")
	for range 5 {
		r.sweep()
		r.advance(10 * time.Minute)
	}
	if g = r.grant(g.ID); g.Status != governance.GrantFailed {
		t.Fatalf("after the attempts ran out: %s", g.Status)
	}
	if dead, _ := r.store.DeadJobs(context.Background()); len(dead) != 1 {
		t.Fatalf("dead letters: %+v", dead)
	}
}

// Two workers on one queue: every job is done, none twice.
func TestTwoWorkersShareTheQueue(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	var grants []governance.Grant
	for _, who := range []string{"ada", "bob"} {
		for _, e := range []string{"admins", "readers"} {
			req, _, err := r.access.Submit(ctx, governance.Ask{Requester: who, Entitlement: e})
			if err != nil {
				t.Fatal(err)
			}
			// Approve through the request service only: the grants wait for the workers.
			if _, err := r.access.Requests.Decide(ctx, req.ID, governance.Party{ID: "mgr", Active: true}, true, ""); err != nil {
				t.Fatal(err)
			}
			g, err := r.access.Grants.FromRequest(ctx, mustApproved(t, r, req.ID), 0, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			grants = append(grants, g)
		}
	}
	second := *r.worker
	var wg sync.WaitGroup
	var total atomic.Int64
	for _, w := range []*provisioning.Worker{r.worker, &second} {
		wg.Go(func() {
			n, err := w.Sweep(ctx, 100)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(n))
		})
	}
	wg.Wait()
	for _, g := range grants {
		if got := r.grant(g.ID); got.Status != governance.GrantActive {
			t.Fatalf("%s: %s", g.ID, got.Status)
		}
	}
	if total.Load() > 2 { // one job per person, however many grants they got
		t.Fatalf("%d jobs done for 2 people", total.Load())
	}
}

func mustApproved(t *testing.T, r *rig, id string) governance.Request {
	req, err := r.store.GetRequest(context.Background(), id)
	if err != nil || req.State != governance.RequestApproved {
		t.Fatalf("request %s: %+v %v", id, req, err)
	}
	return req
}

// setActive has the IdP deactivate or reactivate a person whose manager is mgr.
func (r *rig) setActive(who string, active bool) {
	r.t.Helper()
	raw, _ := json.Marshal(map[string]any{"userName": who, "active": active,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"manager": map[string]any{"value": "mgr"}}})
	if _, err := r.store.Replace(context.Background(), governance.Write{Kind: governance.KindUser, ID: who, Document: raw,
		Keys: governance.Keys{Unique: who, Display: who, Inactive: !active}}); err != nil {
		r.t.Fatal(err)
	}
}

// password is what people sign in to slapd with: Gatehouse never sets one, so the test does,
// as the person would outside Gatehouse.
const password = "correct horse battery staple"

func (r *rig) setPassword(who string) {
	r.t.Helper()
	mod := goldap.NewModifyRequest("uid="+who+","+r.people, nil)
	mod.Replace("userPassword", []string{password})
	if err := r.admin().Modify(mod); err != nil {
		r.t.Fatal(err)
	}
}

// signsIn binds to slapd as who, as an application signing the person in would.
func (r *rig) signsIn(who string) bool {
	r.t.Helper()
	ok, err := slapd.CanBind("uid="+who+","+r.people, password)
	if err != nil {
		r.t.Fatal(err)
	}
	return ok
}

// leavers runs the leaver duty once.
func (r *rig) leavers() {
	r.t.Helper()
	leavers := &governance.Leavers{Store: r.store, Requests: r.access.Requests, Grants: r.access.Grants, Now: r.worker.Now}
	if _, err := leavers.Sweep(context.Background(), 10); err != nil {
		r.t.Fatal(err)
	}
}

// A leaver, deactivated or deleted by the IdP: revoked downstream (a deleted user's account
// is still named, from its last record), the revocation confirmed, and the account can no
// longer sign in.
func TestLeaverIsDisabledInLDAP(t *testing.T) {
	for name, leave := range map[string]func(*rig) error{
		"deactivated": func(r *rig) error { r.setActive("ada", false); return nil },
		"deleted":     func(r *rig) error { return r.store.Delete(context.Background(), governance.KindUser, "ada", 0) },
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			g := r.approved("ada", "admins")
			r.setPassword("ada")
			if !r.signsIn("ada") {
				t.Fatal("ada cannot sign in before she leaves")
			}
			if err := leave(r); err != nil {
				t.Fatal(err)
			}
			r.leavers()
			r.sweep()
			if r.inLDAP("ada", "admins") {
				t.Fatal("a leaver is still in the group")
			}
			if g = r.grant(g.ID); g.Status != governance.GrantRevoked {
				t.Fatalf("the leaver's grant: %s", g.Status)
			}
			if dead, err := r.store.DeadJobs(ctx); err != nil || len(dead) != 0 {
				t.Fatalf("dead letters: %+v %v", dead, err)
			}
			if r.signsIn("ada") {
				t.Fatal("a leaver still signs in to the directory")
			}
		})
	}
}

// A leaver the IdP brings back, and who is granted access again, signs in again with the
// account she had; her grant reaches the directory. Until then her account stays locked.
func TestRejoinerSignsInAgain(t *testing.T) {
	r := newRig(t)
	r.approved("ada", "admins")
	r.setPassword("ada")
	r.setActive("ada", false)
	r.leavers()
	r.sweep()
	if r.signsIn("ada") {
		t.Fatal("a leaver still signs in to the directory")
	}
	r.setActive("ada", true)
	r.sweep()
	if r.signsIn("ada") {
		t.Fatal("reactivated, with no access granted yet, and the account signs in")
	}
	g := r.approved("ada", "readers")
	if g.Status != governance.GrantActive || !r.inLDAP("ada", "readers") {
		t.Fatalf("the rejoiner's grant: %s, in LDAP %v", g.Status, r.inLDAP("ada", "readers"))
	}
	if !r.signsIn("ada") {
		t.Fatal("a rejoiner granted access again cannot sign in")
	}
}

// Drift: an account added to a group outside Gatehouse is reported, and with the application
// set to revoke, removed; a membership removed outside Gatehouse is reported and given back.
func TestDriftIsReportedThenRepaired(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	admins := r.approved("ada", "admins")
	r.approved("ada", "readers")
	admin := r.admin()
	out := goldap.NewModifyRequest("cn=admins,"+r.groups, nil)
	out.Add("member", []string{"uid=mallory," + r.people})
	lost := goldap.NewModifyRequest("cn=readers,"+r.groups, nil)
	lost.Add("member", []string{"cn=nobody"}) // groupOfNames must keep a member
	lost.Delete("member", []string{"uid=ada," + r.people})
	for _, m := range []*goldap.ModifyRequest{out, lost} {
		if err := admin.Modify(m); err != nil {
			t.Fatal(err)
		}
	}
	rec := &provisioning.Reconciler{Worker: r.worker, Store: r.store}
	report, err := rec.Reconcile(ctx, "dir", "user:sec")
	if err != nil {
		t.Fatal(err)
	}
	if report.OutOfBand != 1 || report.Missing != 1 || report.Mode != provisioning.DriftReportOnly {
		t.Fatalf("report: %+v", report)
	}
	if !r.inLDAP("mallory", "admins") {
		t.Fatal("report mode removed access")
	}
	if !r.inLDAP("ada", "readers") {
		t.Fatal("a missing membership was not given back")
	}
	if latest, err := r.store.LatestDrift(ctx, "dir"); err != nil || latest.OutOfBand != 1 {
		t.Fatalf("stored report: %+v %v", latest, err)
	}

	r.driftMode("revoke")
	if report, err = rec.Reconcile(ctx, "dir", "system"); err != nil {
		t.Fatal(err)
	}
	if r.inLDAP("mallory", "admins") || !r.inLDAP("ada", "admins") || report.Entitlements[0].Entitlement != "admins" ||
		report.Entitlements[0].Revoked[0] != "mallory" {
		t.Fatalf("revoke mode: %+v", report)
	}
	// The entitlement whose group does not exist is in the report as an error, not silence.
	if last := report.Entitlements[len(report.Entitlements)-1]; last.Entitlement != "ghost-group" || last.Error == "" {
		t.Fatalf("an unreadable group: %+v", last)
	}
	if r.grant(admins.ID).Status != governance.GrantActive {
		t.Fatal("a granted member was touched")
	}

	// Scheduled: once per interval across sweeps.
	if n, err := rec.Sweep(ctx, 10); err != nil || n != 1 {
		t.Fatalf("first sweep: %d %v", n, err)
	}
	if n, _ := rec.Sweep(ctx, 10); n != 0 {
		t.Fatalf("a second sweep ran %d again", n)
	}
}

// A member the directory holds under another form of a granted userName (here the accent
// typed as a separate mark, as macOS keyboards send it) is that person's granted access, not
// out-of-band access beside a missing grant: slapd compares uid that way, and so must drift.
func TestDriftComparesAccountNamesUnderTheFold(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	raw, _ := json.Marshal(map[string]any{"userName": "Ren\u00e9", "active": true, "name": map[string]string{"familyName": "F"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"manager": map[string]any{"value": "mgr"}}})
	if _, err := r.store.Create(ctx, governance.Write{Kind: governance.KindUser, ID: "rene", Document: raw,
		Keys: governance.Keys{Unique: "Ren\u00e9", Display: "Ren\u00e9"}}); err != nil {
		t.Fatal(err)
	}
	if g := r.approved("rene", "admins"); g.Status != governance.GrantActive {
		t.Fatalf("grant: %+v", g)
	}
	// One modify, removal first: slapd holds the two forms for one value.
	retyped := goldap.NewModifyRequest("cn=admins,"+r.groups, nil)
	retyped.Delete("member", []string{"uid=Ren\u00e9," + r.people})
	retyped.Add("member", []string{"uid=rene\u0301," + r.people})
	if err := r.admin().Modify(retyped); err != nil {
		t.Fatal(err)
	}
	rec := &provisioning.Reconciler{Worker: r.worker, Store: r.store}
	report, err := rec.Reconcile(ctx, "dir", "system")
	if err != nil {
		t.Fatal(err)
	}
	if d := entitlementsOf(report)["admins"]; report.OutOfBand != 0 || report.Missing != 0 || len(d.OutOfBand) != 0 || len(d.Missing) != 0 {
		t.Fatalf("the same account read as drift: %+v", report)
	}
}

// memberChange adds and removes uids in one of the rig's groups, as someone working in slapd
// directly would.
func (r *rig) memberChange(group string, add, remove []string) {
	r.t.Helper()
	m := goldap.NewModifyRequest("cn="+group+","+r.groups, nil)
	for _, who := range add {
		m.Add("member", []string{"uid=" + who + "," + r.people})
	}
	for _, who := range remove {
		m.Delete("member", []string{"uid=" + who + "," + r.people})
	}
	if err := r.admin().Modify(m); err != nil {
		r.t.Fatal(err)
	}
}

func entitlementsOf(r provisioning.DriftReport) map[string]provisioning.EntitlementDrift {
	out := map[string]provisioning.EntitlementDrift{}
	for _, d := range r.Entitlements {
		out[d.Entitlement] = d
	}
	return out
}

// Drift mode review: out-of-band access of known people is recorded as grants awaiting
// adoption, which give nothing, and reviewed by the entitlement's owner; certified is adopted
// and provisioned like any grant from then on, unanswered is removed downstream, and access
// nobody approved is never put back once it is gone.
func TestOutOfBandAccessIsReviewed(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	rec, rev := r.reconciler()
	r.approved("ada", "admins")
	r.memberChange("admins", []string{"bob", "mallory"}, nil)
	r.memberChange("readers", []string{"BOB", "ada", "cy"}, nil) // a uid spelt in another case is the same account
	raw, _ := json.Marshal(map[string]any{"userName": "cy", "active": true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"manager": map[string]any{"value": "mgr"}}})
	if _, err := r.store.Create(ctx, governance.Write{Kind: governance.KindUser, ID: "cy", Document: raw, Keys: governance.Keys{Unique: "cy", Display: "cy"}}); err != nil {
		t.Fatal(err)
	}

	// Review mode needs somebody to run the reviews.
	ownerless, v, err := governance.GetItem[governance.Application](ctx, r.access.Catalog, governance.KindApplication, "dir")
	if err != nil {
		t.Fatal(err)
	}
	ownerless.Owners, ownerless.Drift = nil, "review"
	if _, err := r.access.Catalog.Put(ctx, "cat1", governance.KindApplication, "dir", v, ownerless, ""); !errors.Is(err, governance.ErrInvalidCatalog) {
		t.Fatalf("review mode without an owner: %v", err)
	}
	r.driftMode("review")
	report, err := rec.Reconcile(ctx, "dir", "user:sec")
	if err != nil {
		t.Fatal(err)
	}
	byEnt := entitlementsOf(report)
	if report.Review == "" || report.OutOfBand != 5 ||
		!slices.Equal(byEnt["admins"].UnderReview, []string{"bob"}) || !slices.Equal(byEnt["admins"].Unmatched, []string{"mallory"}) ||
		!slices.Equal(byEnt["readers"].UnderReview, []string{"BOB", "ada", "cy"}) {
		t.Fatalf("report: %+v", report)
	}
	cycle, err := r.store.GetCycle(ctx, report.Review)
	if err != nil || cycle.State != reviews.CycleRunning || cycle.Items != 4 {
		t.Fatalf("cycle: %+v %v", cycle, err)
	}
	items, err := r.store.OpenItemsOf(ctx, "mgr")
	if err != nil || len(items) != 4 {
		t.Fatalf("mgr's items: %+v %v", items, err)
	}
	item := map[string]reviews.Item{}
	for _, it := range items {
		g := r.grant(it.Grant)
		if !g.AwaitsAdoption() || g.Status != governance.GrantActive || g.Source != governance.SourceOutOfBand || len(g.ApprovedBy) != 0 {
			t.Fatalf("recorded grant: %+v", g)
		}
		item[it.Beneficiary+"/"+it.Entitlement] = it
	}
	for _, nothing := range []string{"mallory", "ghost"} {
		if held, _ := r.store.Holdings(ctx, nothing); len(held) != 0 {
			t.Fatalf("an unknown account got a grant: %+v", held)
		}
	}

	// Found again, the same access is neither recorded twice nor reviewed twice.
	again, err := rec.Reconcile(ctx, "dir", "system")
	if byEnt = entitlementsOf(again); err != nil || again.Review != "" || again.OutOfBand != 1 ||
		!slices.Equal(byEnt["admins"].UnderReview, []string{"bob"}) || !slices.Equal(byEnt["readers"].UnderReview, []string{"BOB", "ada", "cy"}) {
		t.Fatalf("second reconciliation: %+v %v", again, err)
	}
	if held, _ := r.store.Holdings(ctx, "bob"); len(held) != 2 {
		t.Fatalf("bob's grants after a second reconciliation: %+v", held)
	}

	// Gone downstream before anyone approved it: the worker does not put it back, and the
	// next reconciliation ends the record.
	r.memberChange("readers", nil, []string{"ada"})
	if err := r.worker.Reconcile(ctx, provisioning.Job{Identity: "ada", Application: "dir"}); err != nil {
		t.Fatal(err)
	}
	if r.inLDAP("ada", "readers") {
		t.Fatal("access nobody approved was provisioned")
	}
	if report, err = rec.Reconcile(ctx, "dir", "system"); err != nil {
		t.Fatal(err)
	}
	adaReaders := item["ada/readers"].Grant
	if g := r.grant(adaReaders); g.Status != governance.GrantRevoked || r.inLDAP("ada", "readers") {
		t.Fatalf("a record of access gone downstream: %+v", g)
	}

	// Asked for on the governed path, out-of-band access is adopted by the approval (whatever
	// the policy says of extensions), keeps its one grant, and has nothing left to review.
	req, _, err := r.access.Submit(ctx, governance.Ask{Requester: "cy", Entitlement: "readers"})
	if err != nil || req.Extends != item["cy/readers"].Grant {
		t.Fatalf("cy's request: %+v %v", req, err)
	}
	if _, err := r.access.Decide(ctx, req.ID, "mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	if held, _ := r.store.Holdings(ctx, "cy"); len(held) != 1 {
		t.Fatalf("cy's grants: %+v", held)
	}
	if cys := r.grant(req.Extends); cys.AwaitsAdoption() || !slices.Equal(cys.ApprovedBy, []string{"mgr"}) ||
		!cys.Ends.Equal(r.clock().Add(8*time.Hour)) {
		t.Fatalf("out-of-band access asked for and approved: %+v", cys)
	}
	if open, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, "", 100, nil); err != nil || len(open.Items()) != 2 {
		t.Fatalf("mgr's open items once cy's access was approved: %+v %v", open, err)
	}

	// Nobody certifies their own access, nor another's item.
	for who, want := range map[string]error{"bob": reviews.ErrOwnAccess, "ada": reviews.ErrNotReviewer} {
		if _, err := rev.Decide(ctx, item["bob/admins"].ID, who, true, "keep"); !errors.Is(err, want) {
			t.Fatalf("%s certified bob's out-of-band access: %v", who, err)
		}
	}
	if _, err := rev.Decide(ctx, item["bob/admins"].ID, "mgr", true, "on call rota, keep"); err != nil {
		t.Fatal(err)
	}
	adopted := r.grant(item["bob/admins"].Grant)
	if adopted.AwaitsAdoption() || !slices.Equal(adopted.ApprovedBy, []string{"mgr"}) || adopted.Decisions[0].Comment != "on call rota, keep" {
		t.Fatalf("adopted grant: %+v", adopted)
	}
	// Adopted, it is provisioned like any grant: removed downstream, it is given back.
	r.memberChange("admins", nil, []string{"bob"})
	if err := r.worker.Reconcile(ctx, provisioning.Job{Identity: "bob", Application: "dir"}); err != nil || !r.inLDAP("bob", "admins") {
		t.Fatalf("an adopted grant was not provisioned again: %v", err)
	}

	// Unanswered at the deadline: revoked and removed downstream; the moot one stays moot.
	r.advance(15 * 24 * time.Hour)
	if _, err := rev.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	r.advance(time.Minute) // the closed cycle's next check of its revocations
	if _, err := rev.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if g := r.grant(item["bob/readers"].Grant); g.Status != governance.GrantRevoked || r.inLDAP("bob", "readers") {
		t.Fatalf("unanswered out-of-band access: %+v, in LDAP %v", g, r.inLDAP("bob", "readers"))
	}
	if !r.inLDAP("bob", "admins") || !r.inLDAP("mallory", "admins") || !r.inLDAP("cy", "readers") {
		t.Fatal("the review touched access it did not decide")
	}
	if report.Review != "" {
		t.Fatalf("the reconciliation that ended a record opened cycle %s", report.Review)
	}
	if closed, err := r.store.GetCycle(ctx, cycle.ID); err != nil || closed.State != reviews.CycleClosed || closed.Remediating != 0 {
		t.Fatalf("closed cycle: %+v %v", closed, err)
	}
	for key, want := range map[string]reviews.Verdict{"bob/admins": reviews.VerdictCertified,
		"bob/readers": reviews.VerdictUnanswered, "ada/readers": reviews.VerdictMoot, "cy/readers": reviews.VerdictMoot} {
		if it, _ := r.store.GetReviewItem(ctx, item[key].ID); it.Verdict != want {
			t.Fatalf("%s: %+v, want %s", key, it, want)
		}
	}
}

// Out-of-band access that breaks a separation-of-duties rule with what its holder has cannot be
// adopted by a certification, which would pass the rule by; the governed path applies the rule,
// and the reviewer can still revoke.
func TestConflictingOutOfBandAccessIsNotCertified(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.approved("ada", "admins")
	r.put(governance.KindSoDRule, "no-admin-readers", governance.SoDRule{ID: "no-admin-readers", Name: "admins are not readers",
		Entitlements: []string{"admins", "readers"}})
	r.driftMode("review")
	r.memberChange("readers", []string{"ada"}, nil)
	rec, rev := r.reconciler()
	if _, err := rec.Reconcile(ctx, "dir", "system"); err != nil {
		t.Fatal(err)
	}
	assigned, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, "", 100, nil)
	items := assigned.Items()
	if err != nil || len(items) != 1 {
		t.Fatalf("mgr's items: %+v %v", items, err)
	}
	if _, err := rev.Decide(ctx, items[0].ID, "mgr", true, "fine"); !errors.Is(err, governance.ErrSoDBlocked) {
		t.Fatalf("certified access that breaks a rule: %v", err)
	}
	if g := r.grant(items[0].Grant); !g.AwaitsAdoption() {
		t.Fatalf("a refused certification adopted the grant: %+v", g)
	}
	if _, _, err := r.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "readers"}); !errors.Is(err, governance.ErrSoDBlocked) {
		t.Fatalf("the request path let the conflict through: %v", err)
	}
	if _, err := rev.Decide(ctx, items[0].ID, "mgr", false, "admins are not readers"); err != nil {
		t.Fatal(err)
	}
}

// A scheduled sweep reconciles every due application even when one fails, and tries the failed
// one again once its claim lapses.
func TestOneFailingApplicationDoesNotHoldUpTheSweep(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.driftMode("review")
	r.put(governance.KindApplication, "dir2", governance.Application{ID: "dir2", Name: "Directory again", Owners: []string{"mgr"}, Connector: "directory"})
	rec := &provisioning.Reconciler{Worker: r.worker, Store: r.store} // no reviews: mode review fails
	n, err := rec.Sweep(ctx, 10)
	if n != 1 || !errors.Is(err, provisioning.ErrNoReviews) || !strings.Contains(err.Error(), "application dir:") {
		t.Fatalf("sweep: %d reconciled, %v", n, err)
	}
	if _, err := r.store.LatestDrift(ctx, "dir2"); err != nil {
		t.Fatalf("the application after the failing one was not reconciled: %v", err)
	}
	if n, err := rec.Sweep(ctx, 10); n != 0 || err != nil {
		t.Fatalf("a sweep within the claim: %d %v", n, err)
	}
	r.advance(time.Minute)
	if n, err := rec.Sweep(ctx, 10); n != 0 || !errors.Is(err, provisioning.ErrNoReviews) {
		t.Fatalf("the failed application was not tried again: %d %v", n, err)
	}
}

// A worker holding an old copy of a grant adds the access after the grant was revoked and its
// access removed: it must notice, and take the access back.
func TestStaleGrantIsTakenBack(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	g := r.approved("ada", "admins")
	stale := g // what a slow worker read before the revocation
	if _, err := r.access.Grants.Revoke(ctx, g.ID, "user:sec", "gone"); err != nil {
		t.Fatal(err)
	}
	if r.inLDAP("ada", "admins") {
		t.Fatal("revoked, still in LDAP")
	}
	// The slow worker now applies its old copy.
	if err := r.worker.ApplyForTest(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if r.inLDAP("ada", "admins") {
		t.Fatal("a stale worker gave back revoked access")
	}
}

// stalling is a connector whose grants wait until released: a slow target.
type stalling struct {
	connectors.Connector
	entered chan<- struct{}
	release <-chan struct{}
}

func (s stalling) Grant(ctx context.Context, id connectors.Identity, ref string) error {
	s.entered <- struct{}{}
	<-s.release
	return s.Connector.Grant(ctx, id, ref)
}

// A worker at a slow target keeps its claim past the visibility timeout by its heartbeat:
// another worker does not take the job meanwhile, and the job is done once.
func TestSlowJobKeepsItsClaim(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.access.Grants.Provisioning = nil // no hint: the job waits for a worker's sweep
	g := r.approved("ada", "admins")

	entered, release := make(chan struct{}, 1), make(chan struct{})
	slow := *r.worker
	slow.Heartbeat = 10 * time.Millisecond
	slow.Connector = func(name string) (connectors.Connector, bool) {
		c, ok := r.worker.Connector(name)
		return stalling{Connector: c, entered: entered, release: release}, ok
	}
	var (
		wg   sync.WaitGroup
		done int
		err  error
	)
	wg.Go(func() { done, err = slow.Sweep(ctx, 10) })
	<-entered
	r.advance(25 * time.Second) // inside the first lease: the heartbeat extends it from here
	time.Sleep(100 * time.Millisecond)
	r.advance(20 * time.Second) // past the first lease, inside the extended one
	if n := r.sweep(); n != 0 {
		t.Fatalf("another worker took %d jobs from a worker still at them", n)
	}
	close(release)
	wg.Wait()
	if err != nil || done != 1 {
		t.Fatalf("the slow worker: %d done, %v", done, err)
	}
	if g = r.grant(g.ID); g.Status != governance.GrantActive || !r.inLDAP("ada", "admins") {
		t.Fatalf("after the slow job: %s, in LDAP %v", g.Status, r.inLDAP("ada", "admins"))
	}
	r.advance(time.Minute)
	if n := r.sweep(); n != 0 {
		t.Fatalf("the job came back after it was done: %d", n)
	}
}

// A hung target does not hold the approval: after the inline budget the decision answers,
// the grant says provisioning, and the queue lands it once the target answers.
func TestHungTargetDoesNotHoldTheApproval(t *testing.T) {
	r := newRig(t)
	entered, release := make(chan struct{}, 4), make(chan struct{})
	direct := r.worker.Connector
	r.worker.Connector = func(name string) (connectors.Connector, bool) {
		c, ok := direct(name)
		return stalling{Connector: c, entered: entered, release: release}, ok
	}
	start := time.Now()
	g := r.approved("bob", "readers")
	if waited := time.Since(start); waited > provisioning.InlineBudget+2*time.Second || g.Status != governance.GrantProvisioning {
		t.Fatalf("the approval waited %s and the grant says %s", waited, g.Status)
	}
	close(release)
	r.worker.Connector = direct
	r.advance(time.Minute) // past the stalled attempt's claim, if the queue took it
	for range 3 {
		r.sweep()
		r.advance(time.Minute)
	}
	if g = r.grant(g.ID); g.Status != governance.GrantActive || !r.inLDAP("bob", "readers") {
		t.Fatalf("after the target answered: %s, in LDAP %v", g.Status, r.inLDAP("bob", "readers"))
	}
}

// One grant failing downstream (its group deleted in the directory) does not hold back the
// person's other grants in the same application: the expiry reaches slapd in the same pass,
// and only the job of the broken one is retried and dead-lettered. Either order of the two.
func TestOneBrokenGrantDoesNotBlockTheRest(t *testing.T) {
	for _, broken := range []string{"admins", "readers"} {
		t.Run(broken+" broken", func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			expiring := map[string]string{"admins": "readers", "readers": "admins"}[broken]
			r.approved("ada", broken)
			short, _, err := r.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: expiring, Duration: governance.Duration(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.access.Decide(ctx, short.ID, "mgr", true, ""); err != nil {
				t.Fatal(err)
			}
			if !r.inLDAP("ada", expiring) {
				t.Fatal("the short grant did not reach slapd")
			}
			if err := r.admin().Del(goldap.NewDelRequest("cn="+broken+","+r.groups, nil)); err != nil {
				t.Fatal(err)
			}
			r.advance(61 * time.Minute)
			if _, err := r.access.Grants.Sweep(ctx, 10); err != nil {
				t.Fatal(err)
			}
			r.sweep()
			if r.inLDAP("ada", expiring) {
				t.Fatal("the expired grant is still in slapd: the broken grant held it back")
			}
			if g := r.grant(governance.GrantID(short.ID)); g.Status != governance.GrantExpired {
				t.Fatalf("the expired grant: %s", g.Status)
			}
			dead, err := r.store.DeadJobs(ctx)
			if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Reason, broken) {
				t.Fatalf("dead letters, want the broken grant's job naming %s: %+v %v", broken, dead, err)
			}
		})
	}
}

// refusingDisable is a directory that cannot disable accounts until told it can.
type refusingDisable struct {
	connectors.Connector
	refuse *atomic.Bool
}

func (c refusingDisable) DisableAccount(ctx context.Context, id connectors.Identity) error {
	if c.refuse.Load() {
		return &connectors.Error{Op: "disable", Retryable: true, Err: errors.New("the directory is read-only for now")}
	}
	return c.Connector.DisableAccount(ctx, id)
}

// A leaver is finished when the account no longer works: the grant reads "revoked" only once
// the account is disabled. If disabling fails, group access is still removed at once, and the
// grant stays "revoking" until a retry disables the account.
func TestLeaverIsRevokedOnlyOnceDisabled(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	g := r.approved("ada", "admins")
	var refuse atomic.Bool
	refuse.Store(true)
	directory, _ := r.worker.Connector("directory")
	r.worker.Connector = func(name string) (connectors.Connector, bool) {
		return refusingDisable{directory, &refuse}, name == "directory"
	}
	raw, _ := json.Marshal(map[string]any{"userName": "ada", "active": false})
	if _, err := r.store.Replace(ctx, governance.Write{Kind: governance.KindUser, ID: "ada", Document: raw,
		Keys: governance.Keys{Unique: "ada", Display: "ada", Inactive: true}}); err != nil {
		t.Fatal(err)
	}
	leavers := &governance.Leavers{Store: r.store, Requests: r.access.Requests, Grants: r.access.Grants, Now: r.worker.Now}
	if _, err := leavers.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	if r.inLDAP("ada", "admins") {
		t.Fatal("the leaver's access waits for the account to be disabled")
	}
	if g = r.grant(g.ID); g.Status != governance.GrantRevoking {
		t.Fatalf("the account still works, and the grant reads %s", g.Status)
	}
	refuse.Store(false)
	r.advance(10 * time.Minute)
	r.sweep()
	if g = r.grant(g.ID); g.Status != governance.GrantRevoked {
		t.Fatalf("disabled at last, the grant reads %s", g.Status)
	}
}

// slowLister is a directory whose member listing waits until released: a long reconciliation.
type slowLister struct {
	connectors.Connector
	entered chan<- struct{}
	release <-chan struct{}
}

func (s slowLister) Members(ctx context.Context, ref string) ([]connectors.Member, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Connector.(connectors.MemberLister).Members(ctx, ref)
}

// One reconciliation of an application at a time: a second one, scheduled or on demand, on
// this replica or another, is refused while the first runs (two would each open a review
// item for the same out-of-band access), and runs once the first is done.
func TestOneReconciliationPerApplication(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	entered, release := make(chan struct{}, 16), make(chan struct{})
	directory, _ := r.worker.Connector("directory")
	r.worker.Connector = func(name string) (connectors.Connector, bool) {
		return slowLister{directory, entered, release}, name == "directory"
	}
	first, _ := r.reconciler()
	second, _ := r.reconciler() // another replica's
	first.Lease = 900 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := first.Reconcile(ctx, "dir", "user:admin")
		done <- err
	}()
	<-entered
	if _, err := second.Reconcile(ctx, "dir", "user:other-admin"); !errors.Is(err, provisioning.ErrReconciling) {
		t.Fatalf("a second reconciliation while the first runs: %v", err)
	}
	// The first outlasts its lease: it renews it, and the application stays its own.
	time.Sleep(3 * first.Lease)
	bounded, cancel := context.WithTimeout(ctx, 5*time.Second) // were it let in, it would wait on the directory
	defer cancel()
	if _, err := second.Reconcile(bounded, "dir", "user:other-admin"); !errors.Is(err, provisioning.ErrReconciling) {
		t.Fatalf("a second reconciliation once the first outlasted its lease: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := second.Reconcile(ctx, "dir", "user:other-admin"); err != nil {
		t.Fatalf("once the first is done: %v", err)
	}
}

// A leaver's access found downstream without a grant (added by hand, or in an application
// where they held nothing) is removed in every drift mode but report, where it is reported as
// a leaver's, first: a person the IdP deactivated (ada) and one it deleted (bob).
func TestLeaversOutOfBandAccess(t *testing.T) {
	for _, mode := range []string{"", "review", "revoke"} {
		t.Run("mode "+cmp.Or(mode, "report"), func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			r.memberChange("admins", []string{"mallory"}, nil) // no leaver: listed after
			r.memberChange("readers", []string{"ada", "bob"}, nil)
			raw, _ := json.Marshal(map[string]any{"userName": "ada", "active": false})
			if _, err := r.store.Replace(ctx, governance.Write{Kind: governance.KindUser, ID: "ada", Document: raw,
				Keys: governance.Keys{Unique: "ada", Display: "ada", Inactive: true}}); err != nil {
				t.Fatal(err)
			}
			if err := r.store.Delete(ctx, governance.KindUser, "bob", 0); err != nil {
				t.Fatal(err)
			}
			if mode != "" {
				r.driftMode(mode)
			}
			rec, _ := r.reconciler()
			report, err := rec.Reconcile(ctx, "dir", "user:sec")
			if err != nil {
				t.Fatal(err)
			}
			if report.Leavers != 2 || len(report.Entitlements) < 2 || report.Entitlements[0].Entitlement != "readers" ||
				!slices.Equal(report.Entitlements[0].Leavers, []string{"ada", "bob"}) {
				t.Fatalf("the leavers' access, first in the report: %+v", report)
			}
			for _, who := range []string{"ada", "bob"} {
				if still := r.inLDAP(who, "readers"); still != (mode == "") {
					t.Fatalf("mode %q: the leaver %s still in the group: %v", mode, who, still)
				}
			}
		})
	}
}

// robot registers a service account ada owns and has it granted robots: ada asks, and mgr,
// her manager, approves.
func (r *rig) robot(id string) governance.Grant {
	r.t.Helper()
	ctx := context.Background()
	r.serviceAccount(id)
	req, _, err := r.access.Submit(ctx, governance.Ask{Requester: "ada", Beneficiary: id, Entitlement: "robots"})
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.access.Decide(ctx, req.ID, "mgr", true, ""); err != nil {
		r.t.Fatal(err)
	}
	return r.grant(governance.GrantID(req.ID))
}

// serviceAccount registers a service account ada owns.
func (r *rig) serviceAccount(id string) {
	r.t.Helper()
	sas := &governance.ServiceAccounts{Store: r.store, People: r.access.People, Now: r.clock}
	if _, err := sas.Create(context.Background(), "ada", governance.ServiceAccount{ID: id, Name: "Robot " + id, Deadline: r.clock().AddDate(0, 6, 0)}); err != nil {
		r.t.Fatal(err)
	}
}

// entry adds an account to slapd outside Gatehouse, with the password people sign in with,
// and with attrs besides.
func (r *rig) entry(dn string, attrs map[string]string) {
	r.t.Helper()
	rdn, _, _ := strings.Cut(dn, ",")
	name := strings.TrimPrefix(rdn, "uid=")
	add := goldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	for attr, v := range map[string]string{"uid": name, "cn": name, "sn": name, "userPassword": password} {
		add.Attribute(attr, []string{v})
	}
	for attr, v := range attrs {
		add.Attribute(attr, []string{v})
	}
	if err := r.admin().Add(add); err != nil {
		r.t.Fatal(err)
	}
}

// holds says whether slapd shows the entry at dn in the group, comparing DNs as DNs.
func (r *rig) holds(group, dn string) bool {
	r.t.Helper()
	want, err := goldap.ParseDN(dn)
	if err != nil {
		r.t.Fatal(err)
	}
	res, err := r.admin().Search(goldap.NewSearchRequest("cn="+group+","+r.groups, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"member"}, nil))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, m := range res.Entries[0].GetAttributeValues("member") {
		if got, err := goldap.ParseDN(m); err == nil && got.EqualFold(want) {
			return true
		}
	}
	return false
}

// A leaver's account the directory still keeps, locked, named like a service account created
// since (a person from before the IdP was connected, whom Gatehouse never knew): the service
// account's grant lands on an entry of its own under the service account base, and the
// leaver's entry stays locked and gets none of its access. Taken for the service account's, it
// would have been unlocked and added to the group, and signed in with the leaver's password.
func TestServiceAccountNeverGetsALeaversEntry(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	leaver, robot := "uid=deploy,"+r.people, "uid=deploy,"+r.services
	r.entry(leaver, map[string]string{"pwdAccountLockedTime": "000001010000Z"})
	g := r.robot("deploy")
	if ok, err := slapd.CanBind(leaver, password); err != nil || ok {
		t.Fatalf("the leaver's entry signs in again: %v %v", ok, err)
	}
	switch {
	case r.holds("robots", leaver):
		t.Fatal("the leaver's entry got the service account's access")
	case g.Status != governance.GrantActive:
		t.Fatalf("the service account's grant: %s", g.Status)
	case !r.holds("robots", robot):
		t.Fatalf("%s does not hold robots", robot)
	}
	if _, err := r.access.Grants.Revoke(ctx, g.ID, "user:sec", "no longer needed"); err != nil {
		t.Fatal(err)
	}
	if g = r.grant(g.ID); g.Status != governance.GrantRevoked || r.holds("robots", robot) {
		t.Fatalf("revoked: %s, %s holds robots %v", g.Status, robot, r.holds("robots", robot))
	}
}

// A directory configured without a service account base refuses a service account's grant
// for good, with what to set: the grant fails and the dead letter says so, and nothing lands
// under the people base. A person's grant on the same directory goes through.
func TestServiceAccountWithoutItsOwnBaseIsRefused(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.directory(ldap.Config{})
	g := r.robot("deploy")
	r.sweep()
	if g = r.grant(g.ID); g.Status != governance.GrantFailed {
		t.Fatalf("a service account's grant with nowhere to put it: %s", g.Status)
	}
	dead, err := r.store.DeadJobs(ctx)
	if err != nil || len(dead) != 1 || dead[0].Identity != "deploy" || !strings.Contains(dead[0].Reason, "set ldap.serviceAccountBase") {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
	res, err := r.admin().Search(goldap.NewSearchRequest(r.people, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(uid=deploy)", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != 0 {
		t.Fatalf("the service account under the people base: %d entries, %v", len(res.Entries), err)
	}
	if p := r.approved("bob", "readers"); p.Status != governance.GrantActive || !r.inLDAP("bob", "readers") {
		t.Fatalf("a person's grant beside it: %s", p.Status)
	}
}

// Reconciliation reads a membership under the service account base as that service
// account's, and one of an entry named like it under the people base as a person's: a
// leaver's entry put in the service account's group is out-of-band access, not the service
// account's grant, and in drift mode review it is nobody's to adopt. A service account's own
// membership nobody granted is reported by its id, reviewed as that service account's, and
// mode revoke removes the leaver's while the granted one stays.
func TestDriftTellsServiceAccountsFromPeople(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	rec, _ := r.reconciler()
	leaver, deploy, nightly := "uid=deploy,"+r.people, "uid=deploy,"+r.services, "uid=nightly,"+r.services
	r.entry(leaver, nil)
	r.entry(nightly, nil)
	add := goldap.NewModifyRequest("cn=robots,"+r.groups, nil)
	add.Add("member", []string{leaver, nightly})
	if err := r.admin().Modify(add); err != nil {
		t.Fatal(err)
	}
	r.robot("deploy")
	r.serviceAccount("nightly")

	report, err := rec.Reconcile(ctx, "dir", "user:sec")
	if err != nil {
		t.Fatal(err)
	}
	d := entitlementsOf(report)["robots"]
	if !slices.Equal(d.OutOfBand, []string{"deploy", "serviceaccount:nightly"}) || len(d.Missing) != 0 {
		t.Fatalf("report: %+v", d)
	}

	r.driftMode("review")
	if report, err = rec.Reconcile(ctx, "dir", "user:sec"); err != nil {
		t.Fatal(err)
	}
	d = entitlementsOf(report)["robots"]
	if !slices.Equal(d.Unmatched, []string{"deploy"}) || !slices.Equal(d.UnderReview, []string{"serviceaccount:nightly"}) || report.Review == "" {
		t.Fatalf("review mode: %+v", report)
	}
	held, err := r.store.Holdings(ctx, "nightly")
	if err != nil || len(held) != 1 || !held[0].AwaitsAdoption() || held[0].Entitlement != "robots" {
		t.Fatalf("nightly's recorded access: %+v %v", held, err)
	}
	if held, err := r.store.Holdings(ctx, "deploy"); err != nil || len(held) != 1 || held[0].AwaitsAdoption() {
		t.Fatalf("deploy's grants: the leaver's access was recorded as the service account's: %+v %v", held, err)
	}

	r.driftMode("revoke")
	if report, err = rec.Reconcile(ctx, "dir", "system"); err != nil {
		t.Fatal(err)
	}
	if d = entitlementsOf(report)["robots"]; !slices.Equal(d.Revoked, []string{"deploy"}) {
		t.Fatalf("revoke mode: %+v", d)
	}
	if r.holds("robots", leaver) || !r.holds("robots", deploy) || !r.holds("robots", nightly) {
		t.Fatalf("after revoke mode: leaver %v, deploy %v, nightly %v", r.holds("robots", leaver), r.holds("robots", deploy), r.holds("robots", nightly))
	}
}
