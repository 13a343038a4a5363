package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/config"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// The demo prints the portal's address before anything else: it is where a person starts.
func TestBannerPrintsThePortalFirst(t *testing.T) {
	cfg, err := load("", false)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	banner(&out, cfg, "127.0.0.1:8080", "demo-token", nil)
	first, _, _ := strings.Cut(out.String(), "\n")
	if first != "Gatehouse portal: http://127.0.0.1:8080/" {
		t.Fatalf("first line %q", first)
	}
	if !strings.Contains(out.String(), "demo identity provider") {
		t.Fatal("the demo banner does not say how to sign in")
	}
	// Without an issuer and outside the demo there is no portal to print, nor to serve.
	cfg.Demo = false
	out.Reset()
	banner(&out, cfg, "127.0.0.1:8080", "", nil)
	if strings.Contains(out.String(), "portal") {
		t.Fatalf("a portal is announced with no way to sign in: %s", out.String())
	}
	if h, err := newPortal(cfg, services{}, nil, nil, nil); h != nil || err != nil {
		t.Fatalf("the portal is on without an issuer: %v %v", h, err)
	}
}

// The demo identity provider offers the demo people with the subject the sign-in mapping finds
// them by.
func TestDemoIdPUsers(t *testing.T) {
	byID, err := demoIdPUsers(governance.MatchExternalID)
	if err != nil {
		t.Fatal(err)
	}
	if len(byID) != len(demoUsers) || byID[0].Subject != "E1002" || byID[0].Email != "grace.hopper@example.org" || byID[0].Name != "Grace Hopper" {
		t.Fatalf("by externalId: %+v", byID)
	}
	byName, err := demoIdPUsers(governance.MatchUserName)
	if err != nil {
		t.Fatal(err)
	}
	if byName[0].Subject != "grace.hopper@example.org" {
		t.Fatalf("by userName: %+v", byName)
	}
}

// Notifications link to the portal's public URL while the portal is on, and nowhere without it.
func TestNotificationsLinkToThePortalWhenItIsOn(t *testing.T) {
	cfg, err := load("", false)
	if err != nil {
		t.Fatal(err)
	}
	incident := governance.IncidentReview{ID: "i1"}
	if got := portalLinks(cfg).For(incident); got != "http://127.0.0.1:8080/security" {
		t.Errorf("in the demo an incident links to %q", got)
	}
	if got := portalLinks(cfg).For(governance.ApprovalNotice{Request: "r1"}); got != "http://127.0.0.1:8080/approvals/r1" {
		t.Errorf("in the demo an approver is sent to %q", got)
	}
	cfg.Portal.Issuer, cfg.Portal.PublicURL = "https://login.example.org", "https://gatehouse.example.org"
	if got := portalLinks(cfg).For(incident); got != "https://gatehouse.example.org/security" {
		t.Errorf("with the portal at its own public URL an incident links to %q", got)
	}
	cfg.Demo, cfg.Portal.Issuer = false, ""
	if got := portalLinks(cfg); got.Base != "" {
		t.Errorf("with the portal off, notifications link to %q", got.Base)
	}
}

// The demo identity provider answers in demo mode only, and only when no organisation's issuer
// is configured: nowhere else is there a way to sign in by picking a person.
func TestDemoIdPOnlyInDemoMode(t *testing.T) {
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	epoch := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	store := redisstore.New(srv.Client(t), redistest.Namespace(), epoch)
	svc := services{access: &governance.Access{}}
	demo, err := load("", false)
	if err != nil {
		t.Fatal(err)
	}
	withIssuer := func(cfg config.Config, isDemo bool) config.Config {
		cfg.Demo = isDemo
		cfg.Portal.Issuer, cfg.Portal.ClientID = "https://idp.example.org", "gatehouse"
		return cfg
	}
	for _, tc := range []struct {
		name   string
		cfg    config.Config
		served bool
	}{
		{"the demo", demo, true},
		{"the demo with an issuer", withIssuer(demo, true), false},
		{"an issuer outside the demo", withIssuer(demo, false), false},
	} {
		h, err := newPortal(tc.cfg, svc, store, epoch, zap.NewNop())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, path := range []string{"/demo-idp/.well-known/openid-configuration", "/demo-idp/authorize?client_id=gatehouse-portal"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if served := rec.Code != http.StatusNotFound; served != tc.served {
				t.Errorf("%s: %s answered %d", tc.name, path, rec.Code)
			}
		}
	}
	// Outside the demo and without an issuer there is no portal at all.
	off := demo
	off.Demo = false
	if h, err := newPortal(off, svc, store, epoch, zap.NewNop()); h != nil || err != nil {
		t.Fatalf("a portal without an issuer outside the demo: %v, %v", h, err)
	}
}
