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
	if status := signInDemo(t, ctx, g, person); status != http.StatusOK {
		t.Fatalf("home after signing in as %s: %d", person, status)
	}
	return ctx
}
