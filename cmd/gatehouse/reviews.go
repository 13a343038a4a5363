package main

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/config"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/notify"
)

// peopleNotifier delivers messages for people (review reminders and escalations, approvers
// told a request waits for them) by email, to a chat webhook, or both, as `reviews` configures
// them (docs/adr/0025); with neither configured they are logged to log, so none is silently
// dropped.
func peopleNotifier(cfg config.Reviews, links notify.Links, now func() time.Time, log *zap.Logger) (governance.Notifier, error) {
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
		return notify.Log{Log: log, Links: links}, nil
	}
	return all, nil
}
