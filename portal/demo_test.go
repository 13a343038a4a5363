package portal_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/portal"
	"github.com/gatehouse-iam/gatehouse/portal/demoidp"
)

// The demo signs in through its own identity provider, served by the portal, exactly as through
// a real one: the person picks a demo user on the provider's page.
func TestSignInThroughDemoIdP(t *testing.T) {
	var e *env
	e = setup(t, func(portalURL string) portal.OIDC {
		return portal.OIDC{Issuer: portalURL + "/demo-idp", ClientID: "gatehouse-portal", RedirectURL: portalURL + "/auth/callback",
			Map: governance.SignInMapping{Claim: "sub", Attribute: governance.MatchExternalID}}
	}, func(portalURL string) http.Handler {
		p, err := demoidp.New(portalURL+"/demo-idp", "gatehouse-portal", portalURL+"/auth/callback",
			[]demoidp.User{{Subject: "idp-ada", Name: "Ada", Email: "ada@example.org"}, {Subject: "idp-gone", Name: "Gone", Email: "gone@example.org"}},
			func() time.Time { return e.now })
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
	b := e.browser()
	welcome := b.get(e.url + "/")
	if !strings.Contains(welcome.body, "Demo mode") {
		t.Fatal("the front door does not say it is a demo")
	}
	pick := func(subject string) answer {
		az := b.post(e.url+"/signin", nil).location(t)
		page := b.get(az.String())
		if page.status != 200 || !strings.Contains(page.body, "Demo mode") || !strings.Contains(page.body, "Ada (ada@example.org)") {
			t.Fatalf("the demo IdP's page: %d %s", page.status, page.body)
		}
		form := az.Query()
		form.Set("user", subject)
		return b.follow(b.post(e.url+"/demo-idp/authorize", form))
	}
	if home := pick("idp-gone"); home.status != http.StatusForbidden || !strings.Contains(home.body, "deactivated") {
		t.Fatalf("a deactivated demo user signed in: %d", home.status)
	}
	home := pick("idp-ada")
	if home.status != 200 || !strings.Contains(home.body, "Signed in as Ada") || !strings.Contains(home.body, "Demo mode") {
		t.Fatalf("home after the demo sign-in: %d %s", home.status, home.body)
	}
	// A person not offered by the page cannot be named by a forged form.
	az := b.post(e.url+"/signin", nil).location(t)
	form := az.Query()
	form.Set("user", "idp-mgr")
	if got := b.post(e.url+"/demo-idp/authorize", form); got.status != http.StatusBadRequest {
		t.Fatalf("a user the demo does not offer: %d", got.status)
	}
	// Nor can the demo IdP send a code anywhere but the portal.
	form = az.Query()
	form.Set("user", "idp-ada")
	form.Set("redirect_uri", "https://evil.example/cb")
	if got := b.post(e.url+"/demo-idp/authorize", form); got.status != http.StatusBadRequest {
		t.Fatalf("a foreign redirect: %d", got.status)
	}
}
