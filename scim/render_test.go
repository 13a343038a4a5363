package scim

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

func TestAppendStringIsJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline\x00\x1f", "ünïcødé ✓ \u2028", "</script>&"} {
		var buf bytes.Buffer
		appendString(&buf, s)
		var back string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back != s {
			t.Errorf("%q rendered as %s: %v (%q)", s, buf.Bytes(), err, back)
		}
	}
}

// The hand-written list rendering and the library's map rendering must say the same thing.
func TestAppendJSONMatchesTheMapForm(t *testing.T) {
	r := renderer{kind: groupKind, baseURL: `https://gh.example/scim/v2`}
	res := governance.Resource{
		Kind: governance.KindGroup, ID: "g-1", Version: 3, Document: []byte(`{"displayName":"Eng \"core\"","externalId":"x"}`),
		Created: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), Modified: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC),
		Members: []governance.Member{{ID: "u-1", Kind: governance.KindUser, Display: `A\B`}, {ID: "g-2", Kind: governance.KindGroup, Display: "Sub"}},
	}
	var buf bytes.Buffer
	if err := r.appendJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	attrs, err := r.attributes(res)
	if err != nil {
		t.Fatal(err)
	}
	want := r.view(res, attrs)
	want["meta"] = r.meta(res, timeLayout)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.Bytes())
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if !bytes.Equal(a, b) {
		t.Errorf("hand-rendered\n%s\nmap form\n%s", a, b)
	}
	buf.Reset()
	res.Document, res.Members = []byte(`{}`), nil
	if err := r.appendJSON(&buf, res); err != nil || !json.Valid(buf.Bytes()) {
		t.Errorf("empty document: %v %s", err, buf.Bytes())
	}
}
