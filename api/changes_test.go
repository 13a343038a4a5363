package api_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// changePage is a page of GET /catalog-changes, by the changes' ids.
type changePage struct {
	Items      []governance.CatalogChange
	NextCursor string
}

// walkChanges reads every page of GET /catalog-changes?state= as who, limit at a time.
func (e *env) walkChanges(who, state string, limit int) []string {
	e.t.Helper()
	var out []string
	for pages, cursor := 0, ""; ; pages++ {
		if pages > 100 {
			e.t.Fatalf("the walk does not end: %v", out)
		}
		var p changePage
		e.must(200, who, "GET", fmt.Sprintf("/catalog-changes?state=%s&limit=%d&cursor=%s", state, limit, cursor), nil, &p)
		for _, c := range p.Items {
			if state != "" && string(c.State) != state {
				e.t.Fatalf("state=%s listed %s, %s", state, c.ID, c.State)
			}
			out = append(out, c.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			return out
		}
	}
}

// GET /catalog-changes pages from the last change of the page before, in one state or all:
// changes decided (the cursor's own among them) or proposed between two pages neither shift
// nor repeat the rest. A cursor naming no change answers 400 in problem details, like
// garbage, and changes nothing.
func TestCatalogChangesPageByCursor(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	before := e.walkChanges("aud", "", 50) // the catalog's own: applied
	var proposed []string
	for i := range 7 {
		e.clock.Add(int64(time.Second))
		var c governance.CatalogChange
		e.must(202, "cat1", "POST", "/policies", map[string]any{"id": fmt.Sprintf("p%d", i), "name": "p",
			"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}, &c)
		proposed = append(proposed, c.ID)
	}
	var first changePage
	e.must(200, "aud", "GET", "/catalog-changes?state=pending&limit=3", nil, &first)
	var firstIDs []string
	for _, c := range first.Items {
		firstIDs = append(firstIDs, c.ID)
	}
	if !slices.Equal(firstIDs, proposed[:3]) || first.NextCursor == "" {
		t.Fatalf("the first page of pending changes: %v next %q, want %v and a cursor", firstIDs, first.NextCursor, proposed[:3])
	}
	// The cursor's own change is approved, one further on rejected, and one more proposed.
	e.must(200, "cat2", "POST", "/catalog-changes/"+proposed[2]+"/approve", nil, nil)
	e.must(200, "cat2", "POST", "/catalog-changes/"+proposed[4]+"/reject", nil, nil)
	e.clock.Add(int64(time.Second))
	var added governance.CatalogChange
	e.must(202, "cat1", "POST", "/policies", map[string]any{"id": "added", "name": "p",
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}, &added)
	var second changePage
	e.must(200, "aud", "GET", "/catalog-changes?state=pending&limit=3&cursor="+first.NextCursor, nil, &second)
	var secondIDs []string
	for _, c := range second.Items {
		secondIDs = append(secondIDs, c.ID)
	}
	if want := []string{proposed[3], proposed[5], proposed[6]}; !slices.Equal(secondIDs, want) || second.NextCursor == "" {
		t.Fatalf("the second page: %v next %q, want %v and a cursor", secondIDs, second.NextCursor, want)
	}
	if rest := e.walkChanges("aud", "pending", 2); !slices.Equal(rest, []string{proposed[0], proposed[1], proposed[3], proposed[5], proposed[6], added.ID}) {
		t.Errorf("the pending changes two a page: %v", rest)
	}
	if all := e.walkChanges("cat1", "", 2); !slices.Equal(all, append(slices.Clone(before), append(slices.Clone(proposed), added.ID)...)) {
		t.Errorf("every change two a page: %v", all)
	}
	if applied := e.walkChanges("aud", "applied", 1); !slices.Equal(applied, append(slices.Clone(before), proposed[2])) {
		t.Errorf("the applied changes: %v", applied)
	}
	if rejected := e.walkChanges("aud", "rejected", 50); !slices.Equal(rejected, []string{proposed[4]}) {
		t.Errorf("the rejected changes: %v", rejected)
	}

	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, path := range map[string]string{
		"a cursor naming nothing":  "/catalog-changes?state=pending&cursor=" + cursor("no-such-change"),
		"in the history":           "/catalog-changes?cursor=" + cursor("no-such-change"),
		"an overlong cursor":       "/catalog-changes?cursor=" + cursor(strings.Repeat("c", 4000)),
		"a key's worth of a path":  "/catalog-changes?cursor=" + cursor("x:doc"),
		"not base64":               "/catalog-changes?cursor=***",
		"an offset, the old form":  "/catalog-changes?cursor=" + cursor("100000"),
		"a limit out of the range": "/catalog-changes?limit=501",
	} {
		t.Run(name, func(t *testing.T) {
			var p struct{ Type, Detail string }
			e.must(400, "aud", "GET", path, nil, &p)
			if p.Type != "https://gatehouse.dev/problems/invalid-parameter" || !strings.Contains(p.Detail, "cursor is not one this API gave") && !strings.Contains(p.Detail, "limit") {
				t.Fatalf("%+v", p)
			}
		})
	}
	if pending := e.walkChanges("aud", "pending", 50); len(pending) != 6 {
		t.Errorf("refused reads changed the pending changes: %v", pending)
	}
	e.must(403, "ada", "GET", "/catalog-changes?state=pending", nil, nil)
}
