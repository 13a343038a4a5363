package reviews

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsStore is what the review metrics read at each scrape.
type MetricsStore interface {
	Cycles(ctx context.Context) ([]Cycle, error)
	OpenItems(ctx context.Context) (map[string]int, error)
	CycleNotices(ctx context.Context, cycle string) ([]NoticeDelivery, error)
}

// Metrics are each cycle's items, open items and unconfirmed revocations, and a running
// cycle's undelivered notices, read at each scrape (so every replica answers the same).
type Metrics struct{ Store MetricsStore }

var _ prometheus.Collector = Metrics{}

var (
	reviewItemsDesc = prometheus.NewDesc("gatehouse_review_items", "Items of a review cycle: all, and those still open.",
		[]string{"cycle", "campaign", "state", "kind"}, nil)
	reviewRemediatingDesc = prometheus.NewDesc("gatehouse_review_remediating",
		"Revocations a closed review cycle started that are not yet confirmed downstream.", []string{"cycle", "campaign"}, nil)
	reviewUndeliveredDesc = prometheus.NewDesc("gatehouse_review_notices_undelivered",
		"Reminders and escalations of a running review cycle not delivered: retrying, or failed (given up; the audit trail's "+
			"review.notice.failed events say to whom and why).", []string{"cycle", "campaign", "state"}, nil)
)

func (Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- reviewItemsDesc
	ch <- reviewRemediatingDesc
	ch <- reviewUndeliveredDesc
}

func (m Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cycles, err := m.Store.Cycles(ctx)
	if err != nil {
		return
	}
	open, err := m.Store.OpenItems(ctx)
	if err != nil {
		return
	}
	for _, c := range cycles {
		if c.State == CycleClosed && c.Remediating == 0 {
			continue // finished: its evidence is in the report, not the metrics
		}
		ch <- prometheus.MustNewConstMetric(reviewItemsDesc, prometheus.GaugeValue, float64(c.Items), c.ID, c.Campaign.ID, string(c.State), "all")
		ch <- prometheus.MustNewConstMetric(reviewItemsDesc, prometheus.GaugeValue, float64(open[c.ID]), c.ID, c.Campaign.ID, string(c.State), "open")
		ch <- prometheus.MustNewConstMetric(reviewRemediatingDesc, prometheus.GaugeValue, float64(c.Remediating), c.ID, c.Campaign.ID)
		if c.State != CycleRunning {
			continue // a closed cycle sends no more notices
		}
		notices, err := m.Store.CycleNotices(ctx, c.ID)
		if err != nil {
			continue
		}
		undelivered := map[NoticeState]int{}
		for _, n := range notices {
			undelivered[n.State]++
		}
		for _, state := range []NoticeState{NoticeRetrying, NoticeFailed} {
			ch <- prometheus.MustNewConstMetric(reviewUndeliveredDesc, prometheus.GaugeValue, float64(undelivered[state]), c.ID, c.Campaign.ID, string(state))
		}
	}
}
