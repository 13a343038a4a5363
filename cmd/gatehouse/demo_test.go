package main

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// The demo's service accounts are Grace's, each with a deadline that shows part of their life:
// one far off, one whose owner is reminded two minutes in, one that expires a quarter of an
// hour in. Loading the demo again adds none.
func TestDemoServiceAccountsHaveDeadlines(t *testing.T) {
	ctx := context.Background()
	store, sas, t0 := demoAccounts(t)
	now := sas.Now
	for range 2 {
		if err := seedServiceAccounts(ctx, sas, now); err != nil {
			t.Fatal(err)
		}
	}
	all, err := store.ServiceAccounts(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("%d demo service accounts: %v", len(all), err)
	}
	byID := map[string]governance.ServiceAccount{}
	for _, sa := range all {
		if sa.Owner != "u-grace" || sa.Deadline.IsZero() {
			t.Errorf("%s: owner %s, deadline %v", sa.ID, sa.Owner, sa.Deadline)
		}
		byID[sa.ID] = sa
	}
	if r := byID["ci-deployer"].Remind; !r.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("the CI deployer's owner is reminded at %v, want two minutes in", r)
	}
	if sa := byID["load-test"]; !sa.Deadline.Equal(t0.Add(15*time.Minute)) || !sa.Remind.IsZero() {
		t.Errorf("the load test account: deadline %v, reminder %v", sa.Deadline, sa.Remind)
	}
}

// A demo configured with the shortest maximum the configuration allows still starts: every
// seeded deadline is kept within it.
func TestDemoServiceAccountsWithinAShortMaximum(t *testing.T) {
	ctx := context.Background()
	store, sas, t0 := demoAccounts(t)
	sas.MaxDeadline, sas.RemindBefore = 24*time.Hour, 23*time.Hour
	now := sas.Now
	if err := seedServiceAccounts(ctx, sas, now); err != nil {
		t.Fatalf("with a one-day maximum: %v", err)
	}
	all, err := store.ServiceAccounts(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("%d demo service accounts: %v", len(all), err)
	}
	for _, sa := range all {
		if sa.Deadline.After(t0.Add(24 * time.Hour)) {
			t.Errorf("%s: deadline %v, past the one-day maximum", sa.ID, sa.Deadline)
		}
	}
}

// demoAccounts is a store on a private redis-server holding Grace, and the service accounts'
// service on a clock fixed at t0.
func demoAccounts(t *testing.T) (*redisstore.Store, *governance.ServiceAccounts, time.Time) {
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0 }
	store := redisstore.New(srv.Client(t), redistest.Namespace(), now)
	storetest.Must(t).One(store.Create(context.Background(), storetest.User("u-grace", demoUsers[0])))
	return store, &governance.ServiceAccounts{Store: store, People: &governance.People{Store: store}, Now: now}, t0
}
