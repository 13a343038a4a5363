package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/config"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/notify"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// reviewNotifier delivers review reminders and escalations by email, to a chat webhook, or
// both; with neither configured they are logged, so a reminder is never silently dropped.
func reviewNotifier(cfg config.Reviews, now func() time.Time, log *zap.Logger) (governance.Notifier, error) {
	var all notify.All
	if e := cfg.Email; e.Addr != "" {
		mailer := &notify.Email{Addr: e.Addr, From: e.From, Username: e.Username, Now: now}
		if e.Username != "" {
			var err error
			if mailer.Password, err = e.Password.Resolve(); err != nil {
				return nil, err
			}
		}
		all = append(all, mailer)
	}
	if cfg.ChatURL != "" {
		url, err := cfg.ChatURL.Resolve()
		if err != nil {
			return nil, err
		}
		all = append(all, &notify.Chat{URL: url, Client: &http.Client{Timeout: 10 * time.Second}})
	}
	if len(all) == 0 {
		return notify.Log{Log: log.Named("reviews")}, nil
	}
	return all, nil
}

// reviewMetrics are each cycle's items, open items and unconfirmed revocations, and a running
// cycle's undelivered notices, read at each scrape.
type reviewMetrics struct{ store *redisstore.Store }

var (
	reviewItemsDesc = prometheus.NewDesc("gatehouse_review_items", "Items of a review cycle: all, and those still open.",
		[]string{"cycle", "campaign", "state", "kind"}, nil)
	reviewRemediatingDesc = prometheus.NewDesc("gatehouse_review_remediating",
		"Revocations a closed review cycle started that are not yet confirmed downstream.", []string{"cycle", "campaign"}, nil)
	reviewUndeliveredDesc = prometheus.NewDesc("gatehouse_review_notices_undelivered",
		"Reminders and escalations of a running review cycle not delivered: retrying, or failed (given up; the audit trail's "+
			"review.notice.failed events say to whom and why).", []string{"cycle", "campaign", "state"}, nil)
)

func (reviewMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- reviewItemsDesc
	ch <- reviewRemediatingDesc
	ch <- reviewUndeliveredDesc
}

func (m reviewMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cycles, err := m.store.Cycles(ctx)
	if err != nil {
		return
	}
	open, err := m.store.OpenItems(ctx)
	if err != nil {
		return
	}
	for _, c := range cycles {
		if c.State == reviews.CycleClosed && c.Remediating == 0 {
			continue // finished: its evidence is in the report, not the metrics
		}
		ch <- prometheus.MustNewConstMetric(reviewItemsDesc, prometheus.GaugeValue, float64(c.Items), c.ID, c.Campaign.ID, string(c.State), "all")
		ch <- prometheus.MustNewConstMetric(reviewItemsDesc, prometheus.GaugeValue, float64(open[c.ID]), c.ID, c.Campaign.ID, string(c.State), "open")
		ch <- prometheus.MustNewConstMetric(reviewRemediatingDesc, prometheus.GaugeValue, float64(c.Remediating), c.ID, c.Campaign.ID)
		if c.State != reviews.CycleRunning {
			continue // a closed cycle sends no more notices
		}
		notices, err := m.store.CycleNotices(ctx, c.ID)
		if err != nil {
			continue
		}
		undelivered := map[reviews.NoticeState]int{}
		for _, n := range notices {
			undelivered[n.State]++
		}
		for _, state := range []reviews.NoticeState{reviews.NoticeRetrying, reviews.NoticeFailed} {
			ch <- prometheus.MustNewConstMetric(reviewUndeliveredDesc, prometheus.GaugeValue, float64(undelivered[state]), c.ID, c.Campaign.ID, string(state))
		}
	}
}
