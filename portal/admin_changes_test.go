package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// pending is every pending catalog change, oldest first.
func (e *env) pending(t testing.TB) []governance.CatalogChange {
	t.Helper()
	var out []governance.CatalogChange
	for after := ""; ; {
		got, err := e.access.Catalog.Changes(context.Background(), governance.ChangePending, after, 50)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got.Items...)
		if got.Next == "" {
			return out
		}
		after = got.Next
	}
}

// propose has admin propose a new approval policy, a change a second admin must approve, a
// second after the one before.
func (e *env) propose(t testing.TB, admin, policy string) governance.CatalogChange {
	t.Helper()
	e.advance(time.Second)
	p := governance.Policy{ID: policy, Name: "Policy " + policy, Stages: []governance.PolicyStage{
		{Name: "manager", Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}}, Quorum: 1}}}
	res, err := e.access.Catalog.Put(context.Background(), "u-"+admin, governance.KindPolicy, policy, 0, p, "")
	if err != nil || res.Change == nil {
		t.Fatalf("%s proposing %s: %+v %v", admin, policy, res, err)
	}
	return *res.Change
}

// The admins' start lists the pending changes an admin has to do with, 50 a page, oldest
// first, never the decided ones however many there are: another admin's to approve and their
// own, not those of a kind their role does not decide. Changes decided (the cursor's own among
// them) and proposed between two pages neither skip nor repeat a row; a cursor naming no
// change is the first page, said so; and to anyone who is not an admin the page does not
// exist, whatever its cursor.
func TestAdminPendingChangesPageByCursor(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	// A history: twenty changes decided, none of which the page shows.
	var decided []string
	for i := range 20 {
		c := e.propose(t, "dee", fmt.Sprintf("old-%d", i))
		if _, err := e.access.Catalog.Reject(ctx, c.ID, "u-cat", "no"); err != nil {
			t.Fatal(err)
		}
		decided = append(decided, c.ID)
	}
	var want []string
	for i := range 58 {
		want = append(want, e.propose(t, "dee", fmt.Sprintf("new-%d", i)).ID)
	}
	want = append(want, e.propose(t, "cat", "cats-own").ID)
	// A separation-of-duties rule is the security admins' to decide: not on a catalog admin's page.
	e.advance(time.Second)
	sod, err := e.access.Catalog.Put(ctx, "u-sue", governance.KindSoDRule, "two", 0,
		governance.SoDRule{ID: "two", Name: "Two", Entitlements: []string{"db-read", "db-root"}}, "")
	if err != nil || sod.Change == nil {
		t.Fatalf("sue's rule: %+v %v", sod, err)
	}
	want = append(want, e.propose(t, "dee", "last").ID)

	cat := e.browser()
	e.signIn(m, cat, "cat")
	first := cat.get(e.url + "/admin")
	shown := rows(first.body, "/admin/changes/")
	next := nextPage(first.body)
	if first.status != http.StatusOK || len(shown) != 50 || next == "" || strings.Contains(first.body, "First page") {
		t.Fatalf("the first page: %d, %d rows, next %q:\n%s", first.status, len(shown), next, first.body)
	}
	if !slices.Equal(shown, want[:50]) {
		t.Fatalf("the first page shows %v, want the 50 oldest pending %v", shown, want[:50])
	}
	// Between the pages: the cursor's own change and one on the next page are decided, and
	// another admin proposes one more.
	if _, err := e.access.Catalog.Approve(ctx, want[49], "u-cat", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.Catalog.Reject(ctx, want[52], "u-dee", "withdrawn"); err != nil {
		t.Fatal(err)
	}
	added := e.propose(t, "dee", "added").ID
	second := cat.get(e.url + next)
	others := rows(second.body, "/admin/changes/")
	rest := append(slices.Delete(slices.Clone(want[50:]), 2, 3), added)
	slices.Sort(others)
	slices.Sort(rest)
	if second.status != http.StatusOK || !slices.Equal(others, rest) || nextPage(second.body) != "" ||
		!strings.Contains(second.body, `<a href="/admin">First page</a>`) {
		t.Fatalf("the second page: %d, shows %v, want %v with a first page and no next:\n%s", second.status, others, rest, second.body)
	}
	if !strings.Contains(second.body, "Proposed by me") || !strings.Contains(second.body, "Policy cats-own") {
		t.Errorf("cat's own change is not among theirs on the second page:\n%s", second.body)
	}
	for _, id := range append(decided, sod.Change.ID) {
		if slices.Contains(shown, id) || slices.Contains(others, id) {
			t.Errorf("the page shows %s, which is decided or not cat's to decide", id)
		}
	}
	// sue, a security admin only, sees sue's own rule, and nothing of the catalog admins'.
	sue := e.browser()
	e.signIn(m, sue, "sue")
	if got := rows(sue.get(e.url+"/admin").body, "/admin/changes/"); !slices.Equal(got, []string{sod.Change.ID}) {
		t.Errorf("sue's page shows %v, want only her rule", got)
	}
	firstPageInstead(t, cat, e.url, "/admin", "no-such-change", strings.Repeat("x", 300), "../../etc")

	ada := e.browser()
	e.signIn(m, ada, "ada")
	missing := ada.get(e.url + "/catalog/no-such")
	for _, path := range []string{"/admin", next, "/admin?after=no-such-change"} {
		if got := ada.get(e.url + path); got.status != http.StatusNotFound || got.body != missing.body {
			t.Errorf("%s to a requester: %d", path, got.status)
		}
	}
}

// The count on a catalog admin's home is of the changes awaiting their approval: another
// admin's, of a kind they decide, read from the pending changes only.
func TestHomeCountsChangesAwaitingMe(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	for i := range 3 {
		e.propose(t, "dee", fmt.Sprintf("p-%d", i))
	}
	gone := e.propose(t, "dee", "decided")
	if _, err := e.access.Catalog.Reject(ctx, gone.ID, "u-dee", "withdrawn"); err != nil {
		t.Fatal(err)
	}
	e.propose(t, "cat", "cats-own")
	if _, err := e.access.Catalog.Put(ctx, "u-sue", governance.KindSoDRule, "two", 0,
		governance.SoDRule{ID: "two", Name: "Two", Entitlements: []string{"db-read", "db-root"}}, ""); err != nil {
		t.Fatal(err)
	}
	cat := e.browser()
	home := e.signIn(m, cat, "cat")
	if !strings.Contains(home.body, "3 catalog changes wait for your approval") {
		t.Errorf("cat's home does not count the three changes of dee's:\n%s", home.body)
	}
	if n, err := e.access.Catalog.Awaiting(ctx, "u-sec", []governance.Role{governance.RoleSecurityAdmin}); err != nil || n != 1 {
		t.Errorf("a security admin awaits %d changes (%v), want sue's rule", n, err)
	}
}
