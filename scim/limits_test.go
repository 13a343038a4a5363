package scim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func orChain(n int) string {
	terms := make([]string, n)
	for i := range terms {
		terms[i] = fmt.Sprintf(`userName eq "user%06d@contoso.example"`, i)
	}
	return strings.Join(terms, " or ")
}

func TestFilterTooBig(t *testing.T) {
	for f, over := range map[string]bool{
		`userName eq "a"`: false,
		`emails[type eq "work" and value co "@"] and active eq true`: false,
		`userName eq "` + strings.Repeat(" or and ", 100) + `"`:      false, // words inside a string are data
		`userName eq "a\" or b" and title eq "\\" or x pr`:           false, // escapes end no string early
		`brand eq "x" or oracle pr or android pr`:                    false, // words that only start like and / or
		strings.Repeat("(", 10) + "x pr" + strings.Repeat(")", 10):   false,
		strings.Repeat("(", 11) + "x pr" + strings.Repeat(")", 11):   true,
		strings.Repeat("x pr OR ", 49) + "x pr":                      false,
		strings.Repeat("x pr OR ", 50) + "x pr":                      true,
		strings.Repeat("x pr aNd ", 50) + "x pr":                     true,
		`userName eq "` + strings.Repeat("a", 4082) + `"`:            false, // 4096 bytes
		`userName eq "` + strings.Repeat("a", 4083) + `"`:            true,
	} {
		if got := filterTooBig(f) != ""; got != over {
			t.Errorf("%.60s... (%d bytes): over the limits %v, want %v", f, len(f), got, over)
		}
	}
}

// Filters over the limits are refused before anything parses them, whichever way they come:
// a list's filter, a search body, a PATCH path or a path-less PATCH key. Filters within them,
// the long and deep ones included, are served.
func TestFilterLimitsOverHTTP(t *testing.T) {
	p := newInProcess(t)
	p.seed(t, 2)
	search := func(f string) string {
		b, _ := json.Marshal(map[string]any{"schemas": []string{searchRequestID}, "filter": f})
		return string(b)
	}
	huge := orChain(9000) // about 380 KB
	for name, tc := range map[string]struct {
		method, path, body string
		status             int
		says               string
	}{
		"a 380 KB search":    {"POST", "/Users/.search", search(huge), 400, "longer than 4096 bytes"},
		"60 comparisons":     {"GET", "/Users?filter=" + url.QueryEscape(strings.Repeat(`id eq "x" or `, 59)+`id eq "x"`), "", 400, "more than 50 comparisons"},
		"11 levels":          {"GET", "/Groups?filter=" + url.QueryEscape(strings.Repeat("(", 11)+`displayName pr`+strings.Repeat(")", 11)), "", 400, "more than 10 deep"},
		"50 comparisons":     {"GET", "/Users?filter=" + url.QueryEscape(strings.Repeat(`id eq "x" or `, 49)+`userName eq "user000001@contoso.example"`), "", 200, `"totalResults":1`},
		"10 levels":          {"POST", "/Users/.search", search(strings.Repeat("(", 10) + `userName sw "user"` + strings.Repeat(")", 10)), 200, `"totalResults":2`},
		"Entra's value path": {"GET", "/Users?filter=" + url.QueryEscape(`emails[type eq "work"].value eq "user000001@contoso.example"`), "", 200, `"totalResults":1`},
		"a PATCH path": {"PATCH", "/Users/ID", patchBody(map[string]any{"op": "remove", "path": "emails[" + strings.Repeat(`value eq "x" or `, 60) + `value eq "y"]`}),
			400, "Operations[0].path joins more than 50"},
		"a path-less PATCH key": {"PATCH", "/Users/ID", patchBody(map[string]any{"op": "add", "value": map[string]any{"title": "t", strings.Repeat("a", 5000): "x"}}),
			400, "Operations[0].value has a key that is longer than 4096 bytes"},
		"an extension's key": {"PATCH", "/Users/ID", patchBody(map[string]any{"op": "add", "value": map[string]any{enterpriseSchemaID: map[string]any{strings.Repeat("a", 5000): "x"}}}),
			400, "Operations[0].value has a key that is longer than 4096 bytes"},
		"a PATCH within the limits": {"PATCH", "/Users/ID", patchBody(map[string]any{"op": "replace", "path": `emails[type eq "work" and value co "@"].display`, "value": "Work mail"}),
			200, `"display":"Work mail"`},
	} {
		t.Run(name, func(t *testing.T) {
			path := strings.Replace(tc.path, "ID", firstUser(t, p), 1)
			start := time.Now()
			rec := p.do(t, tc.method, path, tc.body)
			took := time.Since(start)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.says) {
				t.Fatalf("%d %.300s, want %d saying %q", rec.Code, rec.Body, tc.status, tc.says)
			}
			if tc.status == 400 && (!strings.Contains(rec.Body.String(), `"scimType":"invalid`) || took > 2*time.Second) {
				t.Errorf("refused in %s: %s", took, rec.Body)
			}
		})
	}
}

func patchBody(ops ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
	return string(b)
}

// firstUser is the id of a user the test seeded.
func firstUser(t *testing.T, p *inProcess) string {
	t.Helper()
	rec := p.do(t, "GET", "/Users?count=1", "")
	var page struct {
		Resources []struct {
			ID string `json:"id"`
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || len(page.Resources) == 0 {
		t.Fatalf("no user: %v %s", err, rec.Body)
	}
	return page.Resources[0].ID
}
