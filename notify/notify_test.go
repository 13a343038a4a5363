package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/notify"
)

// The webhook signs its body, and reports anything but a 2xx as not delivered.
func TestWebhookSignsAndReportsFailures(t *testing.T) {
	secret := []byte("webhook-secret")
	answer := http.StatusInternalServerError
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if r.Header.Get("X-Gatehouse-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = body
		w.WriteHeader(answer)
	}))
	defer srv.Close()
	hook := &notify.Webhook{URL: srv.URL, Secret: secret, Client: srv.Client(), Now: func() time.Time { return time.Unix(0, 0) }}
	if err := hook.Notify(context.Background(), "breakglass.activated", map[string]string{"grant": "g1"}); err == nil {
		t.Fatal("a 500 counted as delivered")
	}
	answer = http.StatusNoContent
	if err := hook.Notify(context.Background(), "breakglass.activated", map[string]string{"grant": "g1"}); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Kind    string            `json:"kind"`
		Payload map[string]string `json:"payload"`
	}
	if err := json.Unmarshal(got, &msg); err != nil || msg.Kind != "breakglass.activated" || msg.Payload["grant"] != "g1" {
		t.Fatalf("delivered %s (%v)", got, err)
	}
	forged := &notify.Webhook{URL: srv.URL, Secret: []byte("guess"), Client: srv.Client(), Now: time.Now}
	if err := forged.Notify(context.Background(), "x", nil); err == nil {
		t.Fatal("a body signed with another secret was accepted")
	}
}
