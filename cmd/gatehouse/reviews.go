package main

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/config"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/notify"
)

// reviewNotifier delivers review reminders and escalations by email, to a chat webhook, or
// both; with neither configured they are logged, so a reminder is never silently dropped.
func reviewNotifier(cfg config.Reviews, links notify.Links, now func() time.Time, log *zap.Logger) (governance.Notifier, error) {
	var all notify.All
	if e := cfg.Email; e.Addr != "" {
		mailer := &notify.Email{Addr: e.Addr, From: e.From, Username: e.Username, Now: now, Links: links}
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
		all = append(all, &notify.Chat{URL: url, Client: &http.Client{Timeout: 10 * time.Second}, Links: links})
	}
	if len(all) == 0 {
		return notify.Log{Log: log.Named("reviews")}, nil
	}
	return all, nil
}
