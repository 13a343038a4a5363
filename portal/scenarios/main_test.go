// Package scenarios_test runs the portal's flows in a real browser against the real gateway
// binary with the demo configuration (internal/browsertest): each scenario signs the demo
// people in through the demo identity provider, does what they would, checks every page with
// axe-core and saves its screenshots.
package scenarios_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// signIn signs a demo person in, in a tab of their own, through the demo identity provider's
// page, and leaves the tab on their home page.
func signIn(t *testing.T, g *browsertest.Gateway, person string) context.Context {
	t.Helper()
	ctx := browsertest.Open(t)
	browsertest.Goto(t, ctx, g.URL+"/")
	if status := browsertest.Submit(t, ctx, "Sign in"); status != http.StatusOK {
		t.Fatalf("the demo identity provider's page: %d", status)
	}
	if status := browsertest.Submit(t, ctx, person); status != http.StatusOK {
		t.Fatalf("home after signing in as %s: %d", person, status)
	}
	return ctx
}
