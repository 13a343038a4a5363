package ldap

import (
	"context"
	"sync"
)

// lanes coalesce concurrent changes to one group's members into one modify, and concurrent
// lookups of accounts into one search. slapd rewrites a group entry on every modify, so a
// group of thousands taking fifty adds one at a time costs it fifty rewrites; together they
// cost one. Nobody waits for a batch to fill: a change joins
// whatever gathers while the group's previous modify is in flight, so an idle directory sees
// single modifies at no added latency.
type lanes struct {
	mu    sync.Mutex
	lanes map[laneKey]*lane // one per entry and operation; bounded by the groups granted
}

type laneKey struct {
	entry string // the group changed, or the base searched
	op    laneOp
}

type laneOp int

const (
	addMembers laneOp = iota
	removeMembers
	findAccounts
)

type lane struct {
	sending sync.Mutex // one modify per lane at a time
	next    *batch     // gathering; guarded by lanes.mu
}

type batch struct {
	values []string
	errs   []error // one per value, set before done closes
	done   chan struct{}
}

// do sends value with whatever else joins its batch, and answers value's own outcome. send
// gets the batch's values and answers one error per value.
func (l *lanes) do(ctx context.Context, key laneKey, value string, send func(ctx context.Context, values []string) []error) error {
	l.mu.Lock()
	if l.lanes == nil {
		l.lanes = make(map[laneKey]*lane)
	}
	ln := l.lanes[key]
	if ln == nil {
		ln = &lane{}
		l.lanes[key] = ln
	}
	b := ln.next
	leader := b == nil
	if leader {
		b = &batch{done: make(chan struct{})}
		ln.next = b
	}
	i := len(b.values)
	b.values = append(b.values, value)
	l.mu.Unlock()

	if !leader {
		select {
		case <-b.done:
			return b.errs[i]
		case <-ctx.Done():
			return ctx.Err() // the change may still land: callers repeat idempotent calls
		}
	}
	ln.sending.Lock() // the previous batch's modify; changes join this batch meanwhile
	l.mu.Lock()
	ln.next = nil
	l.mu.Unlock()
	// The batch serves callers other than this one, so one caller giving up must not cancel
	// it; the connection's timeout bounds it.
	b.errs = send(context.WithoutCancel(ctx), b.values)
	ln.sending.Unlock()
	close(b.done)
	return b.errs[i]
}
