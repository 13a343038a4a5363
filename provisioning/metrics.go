package provisioning

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// MetricsStore is what the provisioning metrics read at each scrape.
type MetricsStore interface {
	// ProvisioningCounts are the jobs queued (due, claimed or waiting for a retry) and dead.
	ProvisioningCounts(ctx context.Context) (queued, dead int64, err error)
	LatestDrift(ctx context.Context, application string) (DriftReport, error)
}

// Metrics are the queue's depth, its dead letters, and each application's latest drift, read
// from Redis at each scrape (so every replica answers the same).
func Metrics(store MetricsStore, catalog *governance.Catalog) []prometheus.Collector {
	read := func(dead bool) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			q, d, err := store.ProvisioningCounts(ctx)
			if err != nil {
				return -1
			}
			if dead {
				return float64(d)
			}
			return float64(q)
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_provisioning_jobs_queued",
			Help: "Provisioning jobs waiting: due, claimed or waiting for a retry (-1: Redis unreachable)."}, read(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_provisioning_dead_letters",
			Help: "Provisioning jobs that failed for good; their grants say failed (-1: Redis unreachable)."}, read(true)),
		driftMetrics{store: store, catalog: catalog},
	}
}

// driftMetrics reports each application's latest drift, read from Redis at each scrape (so
// every replica answers the same).
type driftMetrics struct {
	store   MetricsStore
	catalog *governance.Catalog
}

var driftDesc = prometheus.NewDesc("gatehouse_drift_accounts",
	"Accounts in the latest reconciliation that disagree with the grants: out of band (access no grant gives), missing (grants the target lacked), "+
		"under review (out-of-band access recorded and awaiting adoption) and, in drift mode review, unmatched (out of band, of no active identity to review them for).",
	[]string{"application", "kind"}, nil)

func (driftMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- driftDesc }

func (m driftMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	apps, err := governance.ListItems[governance.Application](ctx, m.catalog, governance.KindApplication)
	if err != nil {
		return
	}
	for _, a := range apps {
		r, err := m.store.LatestDrift(ctx, a.ID)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(driftDesc, prometheus.GaugeValue, float64(r.OutOfBand), a.ID, "out_of_band")
		ch <- prometheus.MustNewConstMetric(driftDesc, prometheus.GaugeValue, float64(r.Missing), a.ID, "missing")
		var reviewing, unmatched int
		for _, e := range r.Entitlements {
			reviewing, unmatched = reviewing+len(e.UnderReview), unmatched+len(e.Unmatched)
		}
		ch <- prometheus.MustNewConstMetric(driftDesc, prometheus.GaugeValue, float64(reviewing), a.ID, "under_review")
		ch <- prometheus.MustNewConstMetric(driftDesc, prometheus.GaugeValue, float64(unmatched), a.ID, "unmatched")
	}
}
