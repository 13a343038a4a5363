package api_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// requestPage is a page of requests or of inbox items, by their request ids.
type requestPage struct {
	Items []struct {
		ID      string
		Request struct{ ID string }
	}
	NextCursor string
}

func (p requestPage) ids() []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.ID+it.Request.ID) // a request has an ID, an inbox item a request
	}
	return out
}

// GET /inbox and GET /requests page from the last request of the page before: requests
// decided (the cursor's own among them) or made between two pages neither shift nor repeat
// the rest. A cursor that names someone else's request answers what one naming nothing does.
func TestInboxAndRequestsPageByCursor(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	var made []string // oldest first
	for _, ask := range []struct{ who, entitlement string }{{"ada", "db-read"}, {"bob", "db-read"}, {"ada", "db-admin"}, {"bob", "db-admin"}} {
		e.clock.Add(int64(time.Second))
		var r governance.Request
		e.must(201, ask.who, "POST", "/requests", map[string]any{"entitlement": ask.entitlement, "justification": "month end"}, &r)
		made = append(made, r.ID)
	}
	var first requestPage
	e.must(200, "mgr", "GET", "/inbox?limit=3", nil, &first)
	if !slices.Equal(first.ids(), made[:3]) || first.NextCursor == "" {
		t.Fatalf("mgr's first page: %v next %q; want %v and a cursor", first.ids(), first.NextCursor, made[:3])
	}
	for _, id := range []string{made[2], made[0]} {
		e.must(200, "mgr", "POST", "/requests/"+id+"/decision", map[string]any{"approve": true}, nil)
	}
	var second requestPage
	e.must(200, "mgr", "GET", "/inbox?limit=3&cursor="+first.NextCursor, nil, &second)
	if !slices.Equal(second.ids(), made[3:]) || second.NextCursor != "" {
		t.Fatalf("mgr's page after two decisions: %v next %q; want %v, the last", second.ids(), second.NextCursor, made[3:])
	}

	// ada's own requests, oldest first, one a page.
	var mine []string
	for pages, cursor := 0, ""; ; pages++ {
		if pages > len(made) {
			t.Fatalf("the walk does not end: %v", mine)
		}
		var p requestPage
		e.must(200, "ada", "GET", "/requests?limit=1&cursor="+cursor, nil, &p)
		mine = append(mine, p.ids()...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(mine, []string{made[0], made[2]}) {
		t.Fatalf("ada's requests one a page: %v; want %v", mine, []string{made[0], made[2]})
	}

	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, path := range map[string]string{
		"bob's request as ada's cursor":      "/requests?cursor=" + cursor(made[1]),
		"a cursor naming nothing":            "/requests?cursor=" + cursor("no-such-request"),
		"an overlong cursor":                 "/requests?cursor=" + cursor(strings.Repeat("r", 4000)),
		"not base64":                         "/requests?cursor=***",
		"bob's request in ada's inbox":       "/inbox?cursor=" + cursor(made[1]),
		"a cursor naming nothing, the inbox": "/inbox?cursor=" + cursor("no-such-request"),
	} {
		t.Run(name, func(t *testing.T) {
			var p struct{ Type, Detail string }
			e.must(400, "ada", "GET", path, nil, &p)
			if p.Type != "https://gatehouse.dev/problems/invalid-parameter" || p.Detail != "cursor is not one this API gave" {
				t.Fatalf("%+v", p)
			}
		})
	}
}
