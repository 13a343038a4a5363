// Package storetest is the store fixture the scenario tests of governance, reviews and
// redisstore run on: a redisstore.Store on a private redis-server (internal/redistest), one
// namespace per test, on the clock the test gives it, with the builders those tests share.
// Only tests import it.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// Factory gives each test a store of its own namespace on one Redis deployment, on the clock
// the test gives it.
type Factory func(t *testing.T, now func() time.Time) *redisstore.Store

// Epoch is the fixed clock of tests that do not move time: a date in the past, so that a test
// which still read the wall clock somewhere would fail rather than pass by luck.
func Epoch() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) }

// SingleNode makes stores on one redis-server.
func SingleNode(srv *redistest.Server) Factory {
	return func(t *testing.T, now func() time.Time) *redisstore.Store {
		return redisstore.New(srv.Client(t), redistest.Namespace(), now)
	}
}

// Cluster starts a Redis Cluster of three masters for the test, stopped when it ends, and
// makes stores on it: the hash tag in every key must keep each script and transaction on one
// slot.
func Cluster(t *testing.T) Factory {
	t.Helper()
	cluster, err := redistest.StartCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	return func(t *testing.T, now func() time.Time) *redisstore.Store {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs()})
		t.Cleanup(func() { _ = rdb.Close() })
		return redisstore.New(rdb, redistest.Namespace(), now)
	}
}

// Run runs each test of a suite as a subtest, on stores newStore makes.
func Run(t *testing.T, newStore Factory, suite map[string]func(*testing.T, Factory)) {
	for name, test := range suite {
		t.Run(name, func(t *testing.T) { test(t, newStore) })
	}
}

// User is the write of a user as an IdP declares one.
func User(id, userName string, lookups ...governance.Lookup) governance.Write {
	doc, _ := json.Marshal(map[string]any{"userName": userName})
	return governance.Write{Kind: governance.KindUser, ID: id, Document: doc,
		Keys: governance.Keys{Unique: userName, Display: userName, Lookups: lookups}}
}

// Checks fails the test on an error and passes the value on: Must(t).One(s.Create(...)).
type Checks struct{ t *testing.T }

// Must checks the results of store calls for t.
func Must(t *testing.T) Checks { return Checks{t} }

// One passes on a resource, failing the test on an error.
func (c Checks) One(r governance.Resource, err error) governance.Resource {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// Many passes on resources, failing the test on an error.
func (c Checks) Many(rs []governance.Resource, err error) []governance.Resource {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return rs
}

// Page passes on a page, failing the test on an error.
func (c Checks) Page(p governance.Page, err error) governance.Page {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// Active is an active party.
func Active(id string) governance.Party { return governance.Party{ID: id, Active: true} }

// Requests is the request service on a store, on the fixed clock.
func Requests(store *redisstore.Store) *governance.Requests {
	var n atomic.Int64
	return &governance.Requests{
		Store: store,
		Now:   Epoch,
		NewID: func() string { return fmt.Sprintf("req-%d", n.Add(1)) },
	}
}

// Submission is a beneficiary's own request for an entitlement, through the stages given.
func Submission(beneficiary, entitlement string, stages ...governance.Stage) governance.Submission {
	return governance.Submission{Requester: Active(beneficiary), Beneficiary: Active(beneficiary), Entitlement: entitlement, Stages: stages}
}

// ManagerStage is one stage that mgr decides alone.
var ManagerStage = governance.Stage{Name: "manager", Approvers: []string{"mgr"}, Quorum: 1}

// Inbox lists the ids of the requests waiting on an approver, checking the total.
func Inbox(t *testing.T, s *governance.Requests, approver string) []string {
	t.Helper()
	list, total, err := s.Store.Inbox(context.Background(), approver, governance.RequestPosition{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if total != len(list) {
		t.Fatalf("inbox of %s: total %d, listed %d", approver, total, len(list))
	}
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	return ids
}

// Approve makes who an active user (if it is not one yet), then submits and approves a
// request for it.
func Approve(t *testing.T, s *governance.Requests, who string) governance.Request {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Store.(*redisstore.Store).Create(ctx, User(who, who)); err != nil && !errors.Is(err, governance.ErrConflict) {
		t.Fatal(err)
	}
	r, _, err := s.Submit(ctx, Submission(who, "prod-db", ManagerStage))
	if err != nil {
		t.Fatal(err)
	}
	if r, err = s.Decide(ctx, r.ID, Active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	return r
}

// Hints records the provisioning hints grants give, by identity and application: a grant in
// an application waits for the worker, and these tests look at what the worker was told.
type Hints struct {
	mu    sync.Mutex
	heard map[[2]string]int
}

// Changed records one hint.
func (h *Hints) Changed(_ context.Context, identity, application string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.heard == nil {
		h.heard = map[[2]string]int{}
	}
	h.heard[[2]string{identity, application}]++
}

// Of is how many hints named the identity in the application.
func (h *Hints) Of(identity, application string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.heard[[2]string{identity, application}]
}
