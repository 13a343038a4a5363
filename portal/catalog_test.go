package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

func TestCatalogListsAndFilters(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	all := b.get(e.url + "/catalog")
	for _, want := range []string{`href="/catalog/db-read"`, `href="/catalog/db-write"`, "Database", "Cat", ">low<", "8 hours", "manager"} {
		if !strings.Contains(all.body, want) {
			t.Errorf("the catalog lacks %q", want)
		}
	}
	if strings.Contains(all.body, "db-draft") {
		t.Error("a draft entitlement is listed to a requester")
	}
	if strings.Contains(all.body, "0m0s") {
		t.Error("a length of time is shown as Go writes it, not as people say it")
	}
	for query, want := range map[string][]string{
		"risk=high":     {"db-write"},
		"q=READ":        {"db-read"},
		"app=elsewhere": nil,
		"held=1":        nil,
	} {
		got := b.get(e.url + "/catalog?" + query)
		for _, id := range []string{"db-read", "db-write"} {
			if listed := strings.Contains(got.body, `href="/catalog/`+id+`"`); listed != contains(want, id) {
				t.Errorf("%s: %s listed %v", query, id, listed)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestAskFromTheCatalog(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	entry := b.get(e.url + "/catalog/db-read")
	for _, want := range []string{"Who would approve", "<strong>manager</strong>: Mgr", "No separation-of-duties rule", `<option value="4h0m0s">`} {
		if !strings.Contains(entry.body, want) {
			t.Errorf("the entry page lacks %q", want)
		}
	}
	if strings.Contains(entry.body, `value="24h0m0s"`) {
		t.Error("a duration over the entitlement's maximum is offered")
	}
	sent := b.post(e.url+"/catalog/db-read/request", url.Values{"justification": {"monthly report"}, "duration": {"4h"}})
	page := b.follow(sent)
	if !strings.Contains(page.body, "Your request is sent") || !strings.Contains(page.body, "monthly report") || !strings.Contains(page.body, "Awaiting: Mgr") {
		t.Fatalf("after asking: %s", page.body)
	}
	id := strings.TrimPrefix(sent.location(t).Path, "/requests/")
	r, err := e.access.RequestFor(t.Context(), id, governance.Viewer{ID: "u-ada"})
	if err != nil || r.Source != "portal" || r.Duration.D().Hours() != 4 || r.Requester != "u-ada" {
		t.Fatalf("the request: %+v %v", r, err)
	}
	// Asked again: the open request is answered, not a second one.
	if again := b.post(e.url+"/catalog/db-read/request", url.Values{"justification": {"again"}}); again.location(t).Path != "/requests/"+id {
		t.Fatalf("a second ask: %s", again.header.Get("Location"))
	}
	// The SoD what-if now shows the rule on the write entry, before submitting, and refuses.
	write := b.get(e.url + "/catalog/db-write")
	if !strings.Contains(write.body, "would be refused") || !strings.Contains(write.body, "Read or write") || strings.Contains(write.body, "Send request") {
		t.Fatalf("the what-if: %s", write.body)
	}
	refused := b.follow(b.post(e.url+"/catalog/db-write/request", url.Values{"justification": {"x"}}))
	if !strings.Contains(refused.body, `role="alert">This access cannot be combined`) {
		t.Fatalf("a blocked request: %s", refused.body)
	}
}

func TestAskRefusals(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	for _, id := range []string{"db-draft", "no-such"} {
		if got := b.get(e.url + "/catalog/" + id); got.status != http.StatusNotFound {
			t.Errorf("entry %s: %d, want 404", id, got.status)
		}
		if got := b.post(e.url+"/catalog/"+id+"/request", url.Values{"justification": {"x"}}); got.status != http.StatusNotFound {
			t.Errorf("asking for %s: %d, want 404", id, got.status)
		}
	}
	long := b.follow(b.post(e.url+"/catalog/db-read/request", url.Values{"justification": {strings.Repeat("x", 2001)}}))
	if !strings.Contains(long.body, "too long") {
		t.Fatalf("a long justification: %s", long.body)
	}
	bad := b.follow(b.post(e.url+"/catalog/db-read/request", url.Values{"duration": {"forever"}}))
	if !strings.Contains(bad.body, "Choose a duration") {
		t.Fatalf("a bad duration: %s", bad.body)
	}
	huge := b.post(e.url+"/catalog/db-read/request", url.Values{"justification": {strings.Repeat("x", 70<<10)}})
	if huge.status < 400 {
		t.Fatalf("a body over the cap: %d", huge.status)
	}
	// A cross-site form cannot ask on someone's behalf.
	if got := b.do("POST", e.url+"/catalog/db-read/request", url.Values{"justification": {"x"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Fatalf("a cross-site ask: %d", got.status)
	}
	if mine, err := e.access.RequestsFor(t.Context(), governance.Viewer{ID: "u-ada"}, governance.RequestQuery{Limit: 1}); err != nil || mine.Total != 0 {
		t.Fatalf("refused asks made requests: %+v %v", mine, err)
	}
}

// Pages keep their read of the catalog while its generation stands still: a second render
// reads no entitlement again. A rename, by any replica, moves the generation, and the next
// render names the entitlement anew; so does the read growing older than its limit.
func TestPagesKeepTheCatalogReadWhileItIsUnchanged(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	ada := e.browser()
	e.signIn(m, ada, "ada")
	const extra = 40
	entitlement := func(id, name string) map[string]any {
		return map[string]any{"id": id, "name": name, "application": "db", "owners": []string{"u-cat"}, "risk": "low",
			"state": "published", "requestable": true, "policy": "by-manager", "maxDuration": "8h", "holders": "humans"}
	}
	for i := range extra {
		id := fmt.Sprintf("extra-%02d", i)
		e.put(ctx, governance.KindEntitlement, id, entitlement(id, "Extra "+strconv.Itoa(i)))
	}
	// render counts the items the catalog page reads one by one (HMGET, the catalog store's
	// read of an item).
	render := func() (int, answer) {
		t.Helper()
		e.trips.Start()
		page := ada.get(e.url + "/catalog")
		_, cmds := e.trips.Count()
		if page.status != http.StatusOK {
			t.Fatalf("the catalog answered %d", page.status)
		}
		return strings.Count(strings.Join(cmds, " "), "hmget"), page
	}
	if reads, _ := render(); reads < extra {
		t.Fatalf("the first render read %d items, want every entitlement (%d and more)", reads, extra)
	}
	if reads, _ := render(); reads >= extra {
		t.Errorf("a second render with nothing changed read %d items again", reads)
	}
	e.put(ctx, governance.KindEntitlement, "extra-00", entitlement("extra-00", "Renamed nought"))
	reads, page := render()
	if reads < extra || !strings.Contains(page.body, "Renamed nought") {
		t.Errorf("after a rename the render read %d items; names it: %v", reads, strings.Contains(page.body, "Renamed nought"))
	}
	if reads, _ := render(); reads >= extra {
		t.Errorf("the render after that read %d items again", reads)
	}
	e.advance(31 * time.Second)
	if reads, _ := render(); reads < extra {
		t.Errorf("a read older than its limit was kept (%d items read)", reads)
	}
}
