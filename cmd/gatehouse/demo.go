package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/fixtures"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/portal/demoidp"
)

// demoCatalog is fixtures/demo/catalog.json.
type demoCatalog struct {
	Applications []governance.Application `json:"applications"`
	Policies     []governance.Policy      `json:"policies"`
	Entitlements []governance.Entitlement `json:"entitlements"`
	SoDRules     []governance.SoDRule     `json:"sodRules"`
}

// seedCatalog loads the demo catalog into an empty store. It writes through the store, not
// through two admins: the seed is the starting point an operator chose, and each item is in
// the audit trail as put by "system:demo".
func seedCatalog(ctx context.Context, store governance.CatalogStore, people *governance.People, now func() time.Time) error {
	existing, err := store.CatalogItems(ctx, governance.KindApplication)
	if err != nil || len(existing) > 0 {
		return err
	}
	var c demoCatalog
	if err := json.Unmarshal(fixtures.DemoCatalog(), &c); err != nil {
		return fmt.Errorf("demo catalog: %w", err)
	}
	ids := func(userNames []string) ([]string, error) {
		out := make([]string, 0, len(userNames))
		for _, n := range userNames {
			p, err := people.ByUserName(ctx, n)
			if err != nil {
				return nil, fmt.Errorf("demo catalog owner %s: %w", n, err)
			}
			out = append(out, p.ID)
		}
		return out, nil
	}
	put := func(kind governance.CatalogKind, id string, v any) error {
		body, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = store.PutCatalogItem(ctx, governance.CatalogItem{Kind: kind, ID: id, Body: body},
			governance.Event{At: now(), Actor: "system:demo", Action: "catalog.seed", Target: string(kind) + ":" + id, After: body})
		return err
	}
	for _, a := range c.Applications {
		if a.Owners, err = ids(a.Owners); err != nil {
			return err
		}
		if err := put(governance.KindApplication, a.ID, a); err != nil {
			return err
		}
	}
	for _, p := range c.Policies {
		if err := put(governance.KindPolicy, p.ID, p); err != nil {
			return err
		}
	}
	for _, e := range c.Entitlements {
		if e.Owners, err = ids(e.Owners); err != nil {
			return err
		}
		if b := e.BreakGlass; b != nil {
			if b.Eligible, err = ids(b.Eligible); err != nil {
				return err
			}
		}
		if err := put(governance.KindEntitlement, e.ID, e); err != nil {
			return err
		}
	}
	for _, r := range c.SoDRules {
		if err := put(governance.KindSoDRule, r.ID, r); err != nil {
			return err
		}
	}
	return nil
}

// seedServiceAccounts registers the demo's service accounts, all Grace's, into a store without
// any, each with a deadline that shows part of their life: one far off, one whose owner is
// reminded two minutes after the start, and one that expires a quarter of an hour after it.
func seedServiceAccounts(ctx context.Context, sas *governance.ServiceAccounts, now func() time.Time) error {
	existing, err := sas.Store.ServiceAccounts(ctx)
	if err != nil || len(existing) > 0 {
		return err
	}
	grace, err := sas.People.ByUserName(ctx, demoUsers[0])
	if err != nil {
		return fmt.Errorf("demo service accounts' owner: %w", err)
	}
	maxAhead, remindBefore := sas.Terms()
	// Each within the configured maximum, however short a demo's configuration makes it.
	ahead := func(d time.Duration) time.Time { return now().Add(min(d, maxAhead)) }
	for _, sa := range []governance.ServiceAccount{
		{ID: "etl-nightly", Name: "Nightly ETL", Description: "Loads the warehouse every night", Deadline: ahead(182 * 24 * time.Hour)},
		{ID: "ci-deployer", Name: "CI deployer", Description: "Deploys from the build pipeline", Deadline: ahead(remindBefore + 2*time.Minute)},
		{ID: "load-test", Name: "Load test runner", Description: "A week's load test", Deadline: ahead(15 * time.Minute)},
	} {
		if _, err := sas.Create(ctx, grace.ID, sa); err != nil {
			return fmt.Errorf("demo service account %s: %w", sa.ID, err)
		}
	}
	return nil
}

// demoUsers are the demo people one signs in as (and who get one-time API tokens): grace asks,
// ada (her manager) approves the first stage, katherine (the owner) the second, ada and
// katherine are the two catalog admins, alan (Security) audits, and margaret holds no role and
// decides nothing, to see what the portal shows a stranger to a request.
var demoUsers = []string{"grace.hopper@example.org", "ada.lovelace@example.org", "katherine.johnson@example.org",
	"alan.turing@example.org", "margaret.hamilton@example.org"}

// demoAPITokens makes a random token per demo user; the values are shown once on the terminal.
func demoAPITokens() ([]api.Token, map[string]string, error) {
	var tokens []api.Token
	shown := map[string]string{}
	for _, u := range demoUsers {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, nil, err
		}
		tok := "demo-api-" + hex.EncodeToString(b[:])
		tokens = append(tokens, api.Token{Name: "demo-" + u, Hash: sha256.Sum256([]byte(tok)), UserName: u})
		shown[u] = tok
	}
	return tokens, shown, nil
}

// demoIdPUsers are the demo people the demo identity provider offers, in demoUsers' order,
// each with the subject the portal's sign-in mapping (attribute) finds them by.
func demoIdPUsers(attribute string) ([]demoidp.User, error) {
	var users []struct {
		UserName    string `json:"userName"`
		ExternalID  string `json:"externalId"`
		DisplayName string `json:"displayName"`
	}
	if err := json.Unmarshal(fixtures.DemoUsers(), &users); err != nil {
		return nil, fmt.Errorf("demo users: %w", err)
	}
	var out []demoidp.User
	for _, name := range demoUsers {
		for _, u := range users {
			if u.UserName != name {
				continue
			}
			subject := u.ExternalID
			if attribute != governance.MatchExternalID {
				subject = u.UserName // the demo people's one email is their userName
			}
			out = append(out, demoidp.User{Subject: subject, Name: u.DisplayName, Email: u.UserName})
		}
	}
	return out, nil
}
