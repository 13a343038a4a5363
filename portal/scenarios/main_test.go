// Package scenarios_test drives the portal's flows in a real browser through the real gateway
// binary in its demo configuration (internal/browsertest): people sign in through the demo
// identity provider, act as a person would, and every page they reach is checked by axe-core
// and photographed at laptop and phone width.
package scenarios_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// signIn signs a demo person in at the gateway's front door, picking them on the demo identity
// provider's page by the button that names them ("Grace Hopper (grace.hopper@example.org)").
func signIn(t *testing.T, ctx context.Context, g *browsertest.Gateway, person string) {
	t.Helper()
	browsertest.Goto(t, ctx, g.URL+"/")
	browsertest.Submit(t, ctx, "Sign in")
	if status := browsertest.Submit(t, ctx, person); status != http.StatusOK {
		t.Fatalf("signing in as %s: %d", person, status)
	}
}

// page opens path, expects status, and checks and photographs it under name.
func page(t *testing.T, ctx context.Context, g *browsertest.Gateway, path string, status int, name string) {
	t.Helper()
	if got := browsertest.Goto(t, ctx, g.URL+path); got != status {
		t.Fatalf("%s: %d, want %d", path, got, status)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshots(t, ctx, name)
}
