package conformance

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/ldaptest"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// An access review through the binary and slapd: two people hold an LDAP group; the owner
// launches a campaign; the manager certifies one and lets the other go unanswered; the owner
// closes the cycle. The unanswered membership is gone from slapd, and the evidence report says
// so, with the time the directory confirmed it; the trail verifies.
func TestReviewRevokesWhatNobodyCertified(t *testing.T) {
	d := newDirectory(t, redis.URL(), []string{"ops"}, "gus", "hal")
	g := d.start(t)
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
	}()
	d.setUp(t, g, []string{"ops"}, "gus", "hal")
	grants := map[string]string{}
	for _, who := range []string{"gus", "hal"} {
		var r governance.Request
		d.call(t, g, 201, who, "POST", "/requests", map[string]any{"entitlement": "ldap-ops"}, &r)
		d.call(t, g, 200, "boss", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
		grants[who] = governance.GrantID(r.ID)
	}
	dn := func(who string) string { return "uid=" + who + "@ldap.example.org," + ldaptest.PeopleDN }
	if m := d.members(t, "ops"); !strings.Contains(m, dn("gus")) || !strings.Contains(m, dn("hal")) {
		t.Fatalf("before the review:\n%s", m)
	}

	d.call(t, g, 201, "admin", "POST", "/campaigns", map[string]any{"id": "ops-q4", "name": "Ops Q4", "owner": d.ids["boss"],
		"scope": map[string]any{"applications": []string{"dir"}}, "reviewers": []any{map[string]any{"kind": "manager"}}, "duration": "336h"}, nil)
	var cycle reviews.Cycle
	d.call(t, g, 201, "boss", "POST", "/campaigns/ops-q4/launch", nil, &cycle)
	if cycle.Items != 2 {
		t.Fatalf("launched: %+v", cycle)
	}
	item := func(who string) string { return reviews.ItemID(cycle.ID, grants[who]) }
	d.call(t, g, 200, "boss", "POST", "/reviews/"+item("gus")+"/decision", map[string]any{"certify": true, "comment": "on call"}, nil)
	progress := `gatehouse_review_items{campaign="ops-q4",cycle="` + cycle.ID + `",kind="open",state="running"} 1`
	if m := scrape(t, g); !strings.Contains(m, progress) {
		t.Fatalf("campaign progress is not in /metrics (%s):\n%s", progress, m)
	}
	d.call(t, g, 200, "boss", "POST", "/cycles/"+cycle.ID+"/close", nil, nil)

	waitFor(t, 20*time.Second, "hal's unreviewed membership is gone from slapd", func() bool {
		return !strings.Contains(d.members(t, "ops"), dn("hal"))
	})
	if !strings.Contains(d.members(t, "ops"), dn("gus")) {
		t.Fatal("the certified membership went too")
	}
	var report struct {
		reviews.Report
		Items []reviews.Item `json:"items"`
	}
	waitFor(t, 20*time.Second, "the report shows the revocation confirmed", func() bool {
		d.call(t, g, 200, "admin", "GET", "/cycles/"+cycle.ID+"/report", nil, &report)
		return report.Summary.Confirmed == 1
	})
	for _, it := range report.Items {
		switch it.Beneficiary {
		case d.ids["hal"]:
			if it.Verdict != reviews.VerdictUnanswered || it.Remediation != reviews.RemediationConfirmed || it.Confirmed.IsZero() {
				t.Fatalf("hal's evidence: %+v", it)
			}
		case d.ids["gus"]:
			if it.Verdict != reviews.VerdictCertified || it.DecidedBy != d.ids["boss"] || it.Remediation != "" {
				t.Fatalf("gus's evidence: %+v", it)
			}
		}
	}
	if report.Summary.NoResponse != 1 || report.Summary.Certified != 1 || report.Audit.ID == "" {
		t.Fatalf("summary: %+v, audit %+v", report.Summary, report.Audit)
	}
	var hal governance.Grant
	d.call(t, g, 200, "admin", "GET", "/grants/"+grants["hal"], nil, &hal)
	if hal.Status != governance.GrantRevoked || !strings.HasPrefix(hal.Reason, "review: cycle "+cycle.ID) {
		t.Fatalf("hal's grant: %s %q", hal.Status, hal.Reason)
	}
	if strings.Contains(scrape(t, g), `campaign="ops-q4"`) {
		t.Fatalf("a finished cycle is still in /metrics")
	}
	d.verifyAudit(t, redis.URL())
}

// Out-of-band access through the binary and slapd: two people and an unknown account are put
// in an LDAP group behind Gatehouse's back, on an application whose drift mode is review.
// Reconciliation records the two people's access for review; the owner adopts one, and neither
// beneficiary can certify their own; the owner closes the cycle and the other membership is
// gone from slapd. The unknown account is only reported.
func TestOutOfBandAccessIsReviewed(t *testing.T) {
	d := newDirectory(t, redis.URL(), []string{"ops"}, "ivy", "jay")
	g := d.start(t)
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
	}()
	d.drift = "review"
	d.setUp(t, g, []string{"ops"}, "ivy", "jay")
	// The first scheduled reconciliation, once the application exists, finds nothing yet; the
	// next is an hour away, so the one asked for below is the one that finds the access.
	var report provisioning.DriftReport
	waitFor(t, 20*time.Second, "the first scheduled reconciliation", func() bool {
		return apiCall(t, g, d.tokens["admin"], "GET", "/applications/dir/drift", nil, &report) == 200
	})
	dn := func(who string) string { return "uid=" + who + "," + ldaptest.PeopleDN }
	admin, err := d.slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	behind := goldap.NewModifyRequest("cn=ops,"+ldaptest.GroupsDN, nil)
	behind.Add("member", []string{dn("ivy@ldap.example.org"), dn("jay@ldap.example.org"), dn("ghost")})
	err = admin.Modify(behind)
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	d.call(t, g, 200, "admin", "POST", "/applications/dir/reconcile", nil, &report)
	if report.Review == "" || len(report.Entitlements) != 1 ||
		!slices.Equal(report.Entitlements[0].UnderReview, []string{"ivy@ldap.example.org", "jay@ldap.example.org"}) ||
		!slices.Equal(report.Entitlements[0].Unmatched, []string{"ghost"}) {
		t.Fatalf("drift: %+v", report)
	}
	// On demand, the same access is neither recorded nor reviewed again.
	var again provisioning.DriftReport
	d.call(t, g, 200, "admin", "POST", "/applications/dir/reconcile", nil, &again)
	if again.Review != "" || again.OutOfBand != 1 {
		t.Fatalf("a second reconciliation: %+v", again)
	}
	var open struct {
		Items []reviews.Item `json:"items"`
	}
	d.call(t, g, 200, "boss", "GET", "/reviews", nil, &open)
	item := map[string]reviews.Item{}
	for _, it := range open.Items {
		item[it.Beneficiary] = it
	}
	ivy, jay := item[d.ids["ivy"]], item[d.ids["jay"]]
	if len(open.Items) != 2 || ivy.Cycle != report.Review || ivy.Source != governance.SourceOutOfBand ||
		!strings.Contains(ivy.Justification, `"ivy@ldap.example.org"`) {
		t.Fatalf("the owner's items: %+v", open.Items)
	}
	// Holders do not review their own access: the item is not theirs to see, so it answers as a
	// missing one.
	for who, it := range map[string]reviews.Item{"ivy": ivy, "jay": jay} {
		d.call(t, g, 404, who, "POST", "/reviews/"+it.ID+"/decision", map[string]any{"certify": true, "comment": "mine"}, nil)
	}
	d.call(t, g, 200, "boss", "POST", "/reviews/"+ivy.ID+"/decision", map[string]any{"certify": true, "comment": "release manager"}, nil)
	var adopted governance.Grant
	d.call(t, g, 200, "admin", "GET", "/grants/"+ivy.Grant, nil, &adopted)
	if adopted.Source != governance.SourceOutOfBand || !slices.Equal(adopted.ApprovedBy, []string{d.ids["boss"]}) || adopted.Status != governance.GrantActive {
		t.Fatalf("ivy's adopted grant: %+v", adopted)
	}
	if m := scrape(t, g); !strings.Contains(m, `gatehouse_drift_accounts{application="dir",kind="unmatched"} 1`) {
		t.Fatalf("unmatched out-of-band accounts are not in /metrics:\n%s", m)
	}

	d.call(t, g, 200, "boss", "POST", "/cycles/"+report.Review+"/close", nil, nil)
	waitFor(t, 20*time.Second, "jay's unadopted membership is gone from slapd", func() bool {
		return !strings.Contains(d.members(t, "ops"), dn("jay@ldap.example.org"))
	})
	if m := d.members(t, "ops"); !strings.Contains(m, dn("ivy@ldap.example.org")) || !strings.Contains(m, dn("ghost")) {
		t.Fatalf("the close removed what it did not decide:\n%s", m)
	}
	d.verifyAudit(t, redis.URL())
}

func scrape(t *testing.T, g *gateway) string {
	t.Helper()
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	return string(metrics)
}
