package scenarios_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

// A page link someone else gave (a cursor naming Grace's request) or one made up lands Ada, her
// manager, on the first page of her own list, told so, never on a page of Grace's; her inbox's
// first page is then what waits for her, Grace's request among it.
func TestAPageLinkThatIsNotYoursGivesTheFirstPage(t *testing.T) {
	g := browsertest.StartGateway(t, "")
	grace := signIn(t, g, "Grace Hopper (grace.hopper@example.org)")
	browsertest.Goto(t, grace, g.URL+"/catalog/db-admin")
	browsertest.Fill(t, grace, "Why do you need it? (required)", "index rebuild")
	if status := browsertest.Submit(t, grace, "Send request"); status != http.StatusOK {
		t.Fatalf("sending the request: %d", status)
	}
	id := strings.TrimPrefix(location(t, grace, g.URL), "/requests/")

	ada := signIn(t, g, "Ada Lovelace (ada.lovelace@example.org)")
	for _, c := range []struct{ link, list, shot string }{
		{"/requests?after=" + id, "/requests", "requests-not-yours"},
		{"/approvals?after=made-up", "/approvals", ""},
	} {
		if status := browsertest.Goto(t, ada, g.URL+c.link); status != http.StatusOK {
			t.Fatalf("%s: %d", c.link, status)
		}
		if at := location(t, ada, g.URL); at != c.list {
			t.Errorf("%s led to %s, want %s", c.link, at, c.list)
		}
		if flash := browsertest.Text(t, ada, `.flash[role="alert"]`); flash != "That page of the list does not exist. Here is the first page." {
			t.Errorf("%s says %q", c.link, flash)
		}
		if c.shot != "" {
			page(t, ada, c.shot)
		}
	}
	if text := mainText(t, ada); !strings.Contains(text, "Open one to see its context and decide") {
		t.Errorf("Ada's inbox, the first page, does not list Grace's request: %q", text)
	}
}
