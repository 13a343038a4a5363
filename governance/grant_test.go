package governance

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func approvedRequest(t *testing.T) Request {
	t.Helper()
	r, err := Submit(Submission{ID: "r1", Requester: active("ada"), Beneficiary: active("ada"), Entitlement: "prod-db",
		Justification: "incident 42", Stages: twoStages()}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"mgr", "own1", "own2"} {
		if r, err = Decide(r, active(who), true, "", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestGrantForCarriesProvenance(t *testing.T) {
	r := approvedRequest(t)
	g, err := GrantFor(r, 0, 8*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != "grant-r1" || g.Identity != "ada" || g.Request != "r1" || g.Justification != "incident 42" ||
		!slices.Equal(g.ApprovedBy, []string{"mgr", "own1", "own2"}) || g.Status != GrantProvisioning || !g.Ends.Equal(t0.Add(8*time.Hour)) {
		t.Fatalf("grant: %+v", g)
	}
	for asked, want := range map[time.Duration]time.Duration{time.Hour: time.Hour, 24 * time.Hour: 8 * time.Hour, 0: 8 * time.Hour} {
		if g, _ := GrantFor(r, asked, 8*time.Hour, t0); !g.Ends.Equal(t0.Add(want)) {
			t.Errorf("asked %s: ends after %s, want %s", asked, g.Ends.Sub(t0), want)
		}
	}
	if g, _ := GrantFor(r, 0, 0, t0); !g.Ends.IsZero() || !g.NextDeadline().IsZero() {
		t.Errorf("no maximum, nothing asked: ends %v", g.Ends)
	}
	pending, _ := Submit(Submission{ID: "r2", Requester: active("ada"), Beneficiary: active("ada"), Entitlement: "e", Stages: twoStages()}, t0)
	if _, err := GrantFor(pending, 0, 0, t0); !errors.Is(err, ErrNotApproved) {
		t.Errorf("a pending request gave a grant: %v", err)
	}
}

func TestGrantLifecycle(t *testing.T) {
	g, _ := GrantFor(approvedRequest(t), time.Hour, 0, t0)
	steps := []struct {
		name string
		do   func(Grant) (Grant, error)
		want GrantStatus
		err  error
	}{
		{"no revocation confirmed before one started", func(g Grant) (Grant, error) { return Deprovisioned(g, t0) }, GrantProvisioning, ErrGrantState},
		{"activated once provisioned", func(g Grant) (Grant, error) { return Provisioned(g, t0) }, GrantActive, nil},
		{"not activated twice", func(g Grant) (Grant, error) { return Provisioned(g, t0) }, GrantActive, ErrGrantState},
		{"not expired before its end", func(g Grant) (Grant, error) { return Expire(g, t0.Add(59*time.Minute)) }, GrantActive, ErrGrantState},
		{"expiring at its end", func(g Grant) (Grant, error) { return Expire(g, t0.Add(time.Hour)) }, GrantRevoking, nil},
		{"expired once removal is confirmed", func(g Grant) (Grant, error) { return Deprovisioned(g, t0.Add(time.Hour)) }, GrantExpired, nil},
		{"final", func(g Grant) (Grant, error) { return Revoke(g, "late", t0.Add(2*time.Hour)) }, GrantExpired, ErrGrantState},
	}
	for _, s := range steps {
		next, err := s.do(g)
		if !errors.Is(err, s.err) || (err != nil && s.err == nil) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.err)
		}
		if err == nil {
			g = next
		}
		if g.Status != s.want {
			t.Fatalf("%s: %s, want %s", s.name, g.Status, s.want)
		}
	}
	if !g.Status.Final() || !g.NextDeadline().IsZero() {
		t.Fatalf("an expired grant: final %v, deadline %v", g.Status.Final(), g.NextDeadline())
	}

	failed, _ := GrantFor(approvedRequest(t), 0, 0, t0)
	failed, err := ProvisionFailed(failed, "ldap: no such group", t0)
	if err != nil || failed.Status != GrantFailed {
		t.Fatalf("failed: %+v %v", failed, err)
	}
	if _, err := Provisioned(failed, t0); !errors.Is(err, ErrGrantState) {
		t.Fatal("a failed grant became active")
	}
	revoked, err := Revoke(failed, "cleanup", t0)
	if err == nil {
		revoked, err = Deprovisioned(revoked, t0)
	}
	if err != nil || revoked.Status != GrantRevoked || revoked.Reason != "cleanup" {
		t.Fatalf("revoking a failed grant: %+v %v", revoked, err)
	}
	// A person's revocation whose reason reads like an expiry is still a revocation.
	active, _ := Provisioned(must(GrantFor(approvedRequest(t), 0, 0, t0)), t0)
	revoked, err = Revoke(active, "expired", t0)
	if err == nil {
		revoked, err = Deprovisioned(revoked, t0)
	}
	if err != nil || revoked.Status != GrantRevoked {
		t.Fatalf("revoked with the reason %q: %+v %v", "expired", revoked, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Out-of-band access is adopted once, by a certification, and only while it still gives access.
func TestAdoptOutOfBandAccess(t *testing.T) {
	found := Grant{ID: "grant-out-of-band-x-1", Identity: "ada", Entitlement: "prod-db", Source: SourceOutOfBand, Status: GrantActive}
	if !found.AwaitsAdoption() {
		t.Fatal("a recorded out-of-band grant does not await adoption")
	}
	adopted, err := Adopt(found, []string{"own1"}, "on call", t0)
	if err != nil {
		t.Fatal(err)
	}
	if adopted.AwaitsAdoption() || !slices.Equal(adopted.ApprovedBy, []string{"own1"}) || len(adopted.Decisions) != 1 ||
		!adopted.Decisions[0].Approve || adopted.Decisions[0].Comment != "on call" || found.ApprovedBy != nil {
		t.Fatalf("adopted: %+v (found %+v)", adopted, found)
	}
	revoking := found
	revoking.Status = GrantRevoking
	requested, _ := GrantFor(approvedRequest(t), 0, 0, t0)
	for name, g := range map[string]Grant{"twice": adopted, "revoking": revoking, "a requested grant": requested} {
		if _, err := Adopt(g, []string{"own1"}, "", t0); !errors.Is(err, ErrGrantState) {
			t.Errorf("adopt %s: %v", name, err)
		}
	}
	if _, err := Adopt(found, nil, "", t0); !errors.Is(err, ErrGrantState) {
		t.Errorf("adopted by nobody: %v", err)
	}
}

// An approved request for out-of-band access adopts its grant: the approvers approve it and
// it ends when they approved. An auto-approved one adopts it too, though nobody decided.
func TestRequestAdoptsOutOfBandAccess(t *testing.T) {
	found := Grant{ID: "grant-out-of-band-x-1", Identity: "ada", Entitlement: "prod-db", Source: SourceOutOfBand, Status: GrantActive}
	r := approvedRequest(t)
	r.Extends = found.ID
	later := t0.Add(time.Hour)
	adopted, err := Extend(found, r, 0, 8*time.Hour, later)
	if err != nil {
		t.Fatal(err)
	}
	if adopted.AwaitsAdoption() || !slices.Equal(adopted.ApprovedBy, []string{"mgr", "own1", "own2"}) ||
		!adopted.Ends.Equal(later.Add(8*time.Hour)) || len(adopted.Decisions) != len(r.Decisions) {
		t.Fatalf("adopted by request: %+v", adopted)
	}
	auto, err := Submit(Submission{ID: "r2", Requester: active("ada"), Beneficiary: active("ada"), Entitlement: "prod-db",
		Extends: found.ID, AutoApproved: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if adopted, err = Extend(found, auto, 0, 0, later); err != nil || adopted.AwaitsAdoption() || !adopted.Ends.IsZero() {
		t.Fatalf("adopted by an auto-approved request: %+v %v", adopted, err)
	}
}
