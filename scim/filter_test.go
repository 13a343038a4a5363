package scim

import (
	"encoding/json"
	"testing"

	"github.com/scim2/filter-parser/v2"
)

func mustView(t *testing.T, doc string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The fast path for "attr eq value" must read exactly what the full parser reads.
func TestSimpleEqualityMatchesTheParser(t *testing.T) {
	for _, f := range []string{`userName eq "a@b.c"`, `USERNAME EQ "x"`, `emails.value eq "X@Y"`, `externalId eq ""`, `userName  eq "two spaces"`, `id eq "1-2"`} {
		fast, fastErr := parseFilter(f)
		full, err := filter.ParseFilter([]byte(f))
		if (fastErr == nil) != (err == nil) {
			t.Fatalf("%s: fast path error %v, parser error %v", f, fastErr, err)
		}
		if err != nil {
			continue
		}
		if fast.(*filter.AttributeExpression).String() != full.(*filter.AttributeExpression).String() {
			t.Errorf("%s: fast %v, parser %v", f, fast, full)
		}
	}
}

func TestEntraValuePathFilterRewrite(t *testing.T) {
	for in, want := range map[string]string{
		`emails[type eq "work"].value eq "a@b"`:                   `emails[type eq "work" and value eq "a@b"]`,
		`emails[type eq "work"].value pr`:                         `emails[type eq "work" and value pr]`,
		`userName eq "x" and emails[type eq "work"].value co "@"`: `userName eq "x" and emails[type eq "work" and value co "@"]`,
	} {
		e, err := parseFilter(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		w, _ := filter.ParseFilter([]byte(want))
		if e.(interface{ String() string }).String() != w.(interface{ String() string }).String() {
			t.Errorf("%s parsed as %v, want %v", in, e, w)
		}
	}
	// An or inside the brackets cannot be joined without changing its meaning: refused.
	if _, err := parseFilter(`emails[type eq "work" or type eq "home"].value eq "x"`); err == nil {
		t.Error("an or-filter value-path comparison was rewritten")
	}
}

func TestFilterSemantics(t *testing.T) {
	user := mustView(t, `{"id":"1","userName":"Ada@Example.org","externalId":"X-1","active":true,"title":"a \\ \"b\"",
		"name":{"givenName":"Ada","familyName":"Lovelace"},
		"emails":[{"value":"ada@work.example","type":"work"},{"value":"ada@home.example","type":"home"}],
		"meta":{"created":"2026-01-02T03:04:05.5Z","lastModified":"2026-02-01T00:00:00Z"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","manager":{"value":"m1"}}}`)
	cases := map[string]bool{
		`userName eq "ada@example.org"`:                            true, // caseExact false
		`externalId eq "x-1"`:                                      false,
		`externalId eq "X-1"`:                                      true,
		`emails.value eq "ADA@HOME.EXAMPLE"`:                       true, // any element
		`emails[type eq "home" and value sw "ada@h"]`:              true,
		`emails[type eq "home" and value ew "work.example"]`:       false, // within one element
		`emails.type eq "home" and emails.value ew "work.example"`: true,  // across elements
		`name.familyName gt "K" and name.familyName lt "M"`:        true,
		`active eq true and not (active eq false)`:                 true,
		`active ne true`:                                           false,
		`nickName ne "x"`:                                          true, // absent is "not equal"
		`nickName pr`:                                              false,
		`title eq "a \\ \"b\""`:                                    true, // escapes mean what JSON says
		`title eq "a \\\\ \"b\""`:                                  false,
		`meta.created ge "2026-01-02T03:04:05Z"`:                   true,
		`meta.created lt "2026-01-02T03:04:05.4Z"`:                 false,
		`meta.lastModified eq "2026-02-01T01:00:00+01:00"`:         true, // same instant, other offset
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"`:   true,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1"`: true,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ADA"`:                     true,
		`(userName eq "x" or name.givenName co "d") and active eq true`:                    true,
	}
	for f, want := range cases {
		e, err := parseFilter(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		match, err := compileFilter(e, topScope(userKind))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got := match(user); got != want {
			t.Errorf("%s = %v, want %v", f, got, want)
		}
	}
	for _, f := range []string{`nosuch eq "x"`, `active gt true`, `active co "t"`, `name eq "x"`, `meta.created gt "soon"`,
		`urn:example:other:x eq "1"`, `emails[nosuch eq "x"]`, `userName gt 5`} {
		e, err := parseFilter(f)
		if err != nil {
			continue // refused by the parser already
		}
		if _, err := compileFilter(e, topScope(userKind)); err == nil {
			t.Errorf("%s compiled; it should be refused", f)
		}
	}
}

// FuzzParseFilter: any filter string is refused or compiled, never a panic; what compiles can
// be evaluated on any resource without failing.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a"`, `emails[type eq "work"].value eq "x"`, `not (active eq true) or title pr`,
		`meta.created gt "2020-01-01T00:00:00Z"`, `name.familyName co "\"q"`, `emails[value sw "a" and not(type eq "b")]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`, `a[b[c eq 1]]`, `userName eq 12.5e3`} {
		f.Add(s)
	}
	res := map[string]any{"userName": "a", "active": true, "emails": []any{map[string]any{"value": "x", "type": "work"}, "junk"},
		"name": "not an object", "meta": map[string]any{"created": 5}}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseFilter(s)
		if err != nil {
			return
		}
		match, err := compileFilter(e, topScope(userKind))
		if err != nil {
			return
		}
		_ = match(res)
	})
}
