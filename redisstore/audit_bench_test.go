package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// typicalEvent is an identity change as the SCIM intake records it.
func typicalEvent(i int) []byte {
	b, _ := json.Marshal(governance.Event{At: time.Now(), Actor: "scim:entra", Action: "identity.create",
		Target: fmt.Sprintf("user:%08d-5c1e-4a7b-9d3f-2b6e8a1c0f4d", i), After: json.RawMessage(`{"name":"firstname.lastname@example.org","active":true}`)})
	return b
}

// fill appends n events with pipelined XADDs, as many writers would.
func fill(b *testing.B, rdb redis.UniversalClient, ns string, n int) {
	ctx := context.Background()
	for start := 0; start < n; start += 10000 {
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+10000, n); i++ {
				p.XAdd(ctx, &redis.XAddArgs{Stream: "gh:{" + ns + "}:audit", Values: []any{"e", typicalEvent(i)}})
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditAppend is the cost of one appended event: the Redis CPU it takes (the one
// Redis thread every replica shares) and the memory it holds once sealed.
func BenchmarkAuditAppend(b *testing.B) {
	rdb := srv.Client(b)
	ns := redistest.Namespace()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	mem0 := redistest.UsedMemory(rdb)
	cpu0 := redistest.CPUSeconds(rdb)
	b.ResetTimer()
	fill(b, rdb, ns, b.N)
	b.StopTimer()
	appendCPU := redistest.CPUSeconds(rdb) - cpu0
	cpu1 := redistest.CPUSeconds(rdb)
	start := time.Now()
	for {
		n, err := store.SealAudit(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	sealWall := time.Since(start)
	b.ReportMetric(appendCPU*1e6/float64(b.N), "redis-µs/append")
	b.ReportMetric((redistest.CPUSeconds(rdb)-cpu1)*1e6/float64(b.N), "redis-µs/seal")
	b.ReportMetric(float64(sealWall.Nanoseconds())/float64(b.N), "seal-ns/event")
	b.ReportMetric(float64(redistest.UsedMemory(rdb)-mem0)/float64(b.N), "bytes/event")
}

// BenchmarkAuditVerify1M seals and verifies a trail of a million events (set
// GATEHOUSE_AUDIT_EVENTS for another size): `gatehouse audit verify` does the same walk.
func BenchmarkAuditVerify1M(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_AUDIT_EVENTS")); err == nil && v > 0 {
		n = v
	}
	rdb := srv.Client(b)
	ns := redistest.Namespace()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	fill(b, rdb, ns, n)
	ctx := context.Background()
	for {
		sealed, err := store.SealAudit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if sealed == 0 {
			break
		}
	}
	b.ResetTimer()
	for range b.N {
		head, err := store.AuditHead(ctx)
		if err != nil {
			b.Fatal(err)
		}
		v, err := governance.VerifyAudit(store.AuditEvents(ctx), head)
		if err != nil || v.Sealed != int64(n) {
			b.Fatalf("verified %d of %d: %v", v.Sealed, n, err)
		}
	}
	b.ReportMetric(float64(n), "events")
	_ = rdb.Del(ctx, "gh:{"+ns+"}:audit", "gh:{"+ns+"}:audit:chain").Err()
}
