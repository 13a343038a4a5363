package redisstore_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// A kind's items are read a page at a time from a cursor: every item there was when the
// reading began is listed exactly once, in creation order (items created in the same
// microsecond in the order of their ids), while others are added between the pages, before the
// cursor and after it; a cursor naming no item starts from the first.
func testCatalogPagesByCursor(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	s := newStore(t, storetest.Epoch)
	// put creates an item at a time: its place among the others.
	put := func(id string, at time.Time) {
		t.Helper()
		body := []byte(`{"id":"` + id + `","name":"` + id + `"}`)
		if _, err := s.PutCatalogItem(ctx, governance.CatalogItem{Kind: governance.KindApplication, ID: id, Body: body},
			governance.Event{At: at, Actor: "test", Action: "catalog.seed", Target: "application:" + id}); err != nil {
			t.Fatal(err)
		}
	}
	// Created in one instant, they are in the order of their ids.
	for _, id := range []string{"m", "c", "x", "a", "q"} {
		put(id, storetest.Epoch())
	}
	first := []string{"a", "c", "m", "q", "x"}
	read := func(after string, n int) []string {
		t.Helper()
		items, err := s.CatalogPage(ctx, governance.KindApplication, after, n)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range items {
			if it.Version != 1 || !strings.Contains(string(it.Body), `"`+it.ID+`"`) {
				t.Fatalf("item %s read as %+v", it.ID, it)
			}
			ids = append(ids, it.ID)
		}
		return ids
	}
	var seen []string
	after := ""
	for i := 0; ; i++ {
		page := read(after, 2)
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
		after = page[len(page)-1]
		if i >= 3 {
			continue
		}
		// Between two pages, another admin adds items: one created in the same instant as
		// the first ones, which sorts before the cursor (after "a"), and one later, after them
		// all. An offset would read an item twice here.
		put("added-"+strconv.Itoa(i), storetest.Epoch())
		put("later-"+strconv.Itoa(i), storetest.Epoch().Add(time.Duration(i+1)*time.Second))
	}
	var old []string
	for _, id := range seen {
		if slices.Contains(first, id) {
			old = append(old, id)
		}
	}
	if !slices.Equal(old, first) {
		t.Errorf("the items there were at the start read as %v, want %v once each in creation order", old, first)
	}
	for i, id := range seen {
		if slices.Contains(seen[i+1:], id) {
			t.Errorf("%s was read twice: %v", id, seen)
		}
	}
	if got := read("no-such-id", 2); !slices.Equal(got, []string{"a", "added-0"}) {
		t.Errorf("a cursor naming no item read %v, want the first page", got)
	}
	if got := read(strings.Repeat("x", 500), 1); !slices.Equal(got, []string{"a"}) {
		t.Errorf("a cursor no id can be read %v, want the first page", got)
	}
	if got := read("", 0); len(got) != 0 {
		t.Errorf("a page of none read %v", got)
	}
}
