package reviews_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// The metrics show a running cycle's notices that did not reach their recipient: retrying,
// and given up. A closed cycle sends none, and shows none.
func TestReviewMetricsShowUndeliveredNotices(t *testing.T) {
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	store := redisstore.New(srv.Client(t), redistest.Namespace(), func() time.Time { return now })
	event := governance.Event{At: now, Actor: "system", Action: "test"}
	for _, c := range []reviews.Cycle{
		{ID: "q4-1", Campaign: reviews.Campaign{ID: "q4"}, State: reviews.CycleRunning, Launched: now, Deadline: now.Add(time.Hour)},
		{ID: "q3-1", Campaign: reviews.Campaign{ID: "q3"}, State: reviews.CycleClosed, Launched: now, Deadline: now, Remediating: 1},
	} {
		if _, _, err := store.CreateCycle(ctx, c, event); err != nil {
			t.Fatal(err)
		}
		for to, state := range map[string]reviews.NoticeState{"ann": reviews.NoticeSent, "bea": reviews.NoticeFailed,
			"cid": reviews.NoticeRetrying, "dan": reviews.NoticeFailed} {
			d := reviews.NoticeDelivery{ID: reviews.NoticeDeliveryID(c.ID, "reminder-1", to), Cycle: c.ID, Notice: "reminder-1", To: to}
			next := d
			next.State, next.Attempts = state, 1
			if _, err := store.SaveNoticeDelivery(ctx, d, next, event); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(reviews.Metrics{Store: store})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	var got []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "gatehouse_review_notices_undelivered{") {
			got = append(got, line)
		}
	}
	want := []string{
		`gatehouse_review_notices_undelivered{campaign="q4",cycle="q4-1",state="failed"} 2`,
		`gatehouse_review_notices_undelivered{campaign="q4",cycle="q4-1",state="retrying"} 1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
