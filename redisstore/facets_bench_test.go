package redisstore_test

import (
	"context"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// filterOnce reads the first page of reviewer's items of one entitlement, as My reviews does.
func filterOnce(ctx context.Context, b *testing.B, rev *reviews.Service, reviewer, entitlement string) {
	b.Helper()
	page, err := rev.AssignedTo(ctx, governance.Viewer{ID: reviewer}, "", 100, reviews.Filter{Entitlement: entitlement})
	if err != nil || len(page.Items()) == 0 {
		b.Fatalf("%s's items of %s: %+v %v", reviewer, entitlement, page, err)
	}
}
