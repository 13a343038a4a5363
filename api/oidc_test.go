package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/gatehouse-iam/gatehouse/api"
)

// OIDC bearer tokens, verified against an in-process provider: discovery, keys, issuer,
// audience, expiry, and the claim that names the SCIM user.
func TestOIDCBearerTokens(t *testing.T) {
	provider, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = provider.Shutdown() })
	// Every mockoidc server signs with the same default key unless told otherwise: a stranger
	// needs keys of its own.
	strangerKeys, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, api.OIDC{Issuer: provider.Issuer(), Audience: provider.ClientID, UserClaim: "email"}, http.DefaultClient)
	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": provider.Issuer(), "aud": provider.ClientID, "sub": "oidc-ada", "email": "ada@example.org",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	sign := func(kp *mockoidc.Keypair, c jwt.MapClaims) string {
		tok, err := kp.SignJWT(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for name, tc := range map[string]struct {
		token  string
		status int
	}{
		"valid":           {sign(provider.Keypair, claims(nil)), 200},
		"other keys":      {sign(strangerKeys, claims(nil)), 401},
		"other issuer":    {sign(provider.Keypair, claims(func(c jwt.MapClaims) { c["iss"] = "https://issuer.example.org" })), 401},
		"other audience":  {sign(provider.Keypair, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), 401},
		"expired":         {sign(provider.Keypair, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), 401},
		"no email claim":  {sign(provider.Keypair, claims(func(c jwt.MapClaims) { delete(c, "email") })), 403},
		"not provisioned": {sign(provider.Keypair, claims(func(c jwt.MapClaims) { c["email"] = "eve@example.org" })), 403},
		"deactivated":     {sign(provider.Keypair, claims(func(c jwt.MapClaims) { c["email"] = "gone@example.org" })), 403},
		"not a JWT":       {"definitely-not-a-token", 401},
	} {
		t.Run(name, func(t *testing.T) {
			e.tokens["oidc"] = tc.token
			var me struct {
				Principal string            `json:"principal"`
				User      map[string]string `json:"user"`
				Roles     []string          `json:"roles"`
			}
			status := e.call("oidc", "GET", "/me", nil, &me)
			if status != tc.status {
				t.Fatalf("%d, want %d", status, tc.status)
			}
			if status == 200 && (me.Principal != "oidc:oidc-ada" || me.User["id"] != "u-ada" || len(me.Roles) != 1) {
				t.Fatalf("principal: %+v", me)
			}
		})
	}
	// Roles follow SCIM group membership.
	e.tokens["oidc"] = sign(provider.Keypair, claims(func(c jwt.MapClaims) { c["email"] = "sec@example.org" }))
	e.must(200, "oidc", "GET", "/incident-reviews", nil, nil)
}
