package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
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
