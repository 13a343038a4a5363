package scim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
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

// formatFilter prints a parsed filter back in RFC 7644 syntax, so that parsing it again gives
// the same tree: a logical expression on the right, or an or under an and, is parenthesised
// (the parser joins left to right, and within value-path brackets, where it takes no
// parentheses, it only ever builds left-nested and-chains), and string values keep the escapes
// the parser kept.
func formatFilter(e filter.Expression) string {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		left, right := formatFilter(e.Left), formatFilter(e.Right)
		if l, ok := e.Left.(*filter.LogicalExpression); ok && l.Operator == filter.OR && e.Operator == filter.AND {
			left = "(" + left + ")"
		}
		if _, ok := e.Right.(*filter.LogicalExpression); ok {
			right = "(" + right + ")"
		}
		return left + " " + string(e.Operator) + " " + right
	case *filter.NotExpression:
		return "not (" + formatFilter(e.Expression) + ")"
	case *filter.ValuePath:
		return e.AttributePath.String() + "[" + formatFilter(e.ValueFilter) + "]"
	case *filter.AttributeExpression:
		out := e.AttributePath.String() + " " + string(e.Operator)
		switch v := e.CompareValue.(type) {
		case nil:
			if e.Operator != filter.PR {
				out += " null"
			}
		case string:
			out += ` "` + v + `"`
		case float64:
			f := strconv.FormatFloat(v, 'g', -1, 64)
			if !strings.ContainsAny(f, ".e") {
				f += ".0"
			}
			out += " " + f
		default:
			out += " " + fmt.Sprint(v)
		}
		return out
	}
	return fmt.Sprintf("<%T>", e)
}

// fuzzResources are what compiled filters are evaluated on: well-formed, and malformed in ways
// a stored document never is but an evaluator must survive.
var fuzzResources = []map[string]any{
	{"userName": "a", "active": true, "title": `quo"te \ back`, "emails": []any{map[string]any{"value": "x", "type": "work"}, "junk"},
		"name": "not an object", "meta": map[string]any{"created": 5}},
	{"userName": "Ada@Example.org", "externalId": "X-1", "active": false, "name": map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails":           []any{map[string]any{"value": "ada@work.example", "type": "work", "primary": true}},
		"meta":             map[string]any{"created": "2026-01-02T03:04:05Z", "lastModified": "2026-02-01T00:00:00Z"},
		enterpriseSchemaID: map[string]any{"department": "R&D", "manager": map[string]any{"value": "m1"}}},
	{},
}

// FuzzParseFilter: any filter string is refused or parsed. A parsed filter, printed and parsed
// again, is the same filter: the same tree, and the same verdict on every resource (a printer
// that mangled an escape or the grouping would change one). What compiles evaluates on any
// resource without failing, and its negation gives the opposite verdict.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a"`, `emails[type eq "work"].value eq "x"`, `not (active eq true) or title pr`,
		`meta.created gt "2020-01-01T00:00:00Z"`, `name.familyName co "\"q"`, `emails[value sw "a" and not(type eq "b")]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`, `a[b[c eq 1]]`, `userName eq 12.5e3`,
		`a pr or (b pr or c pr)`, `(a pr or b pr) and c pr`, `title eq "back\\slash" and x eq null`, `meta.created ge 0.000001`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseFilter(s)
		if err != nil {
			return
		}
		printed := formatFilter(e)
		again, err := parseFilter(printed)
		if err != nil {
			t.Fatalf("%q parsed, printed as %q, which does not parse: %v", s, printed, err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("%q parsed, printed as %q, parsed as another filter: %q", s, printed, formatFilter(again))
		}
		match, err := compileFilter(e, topScope(userKind))
		if err != nil {
			return
		}
		reprinted, _ := compileFilter(again, topScope(userKind))
		negated, err := compileFilter(&filter.NotExpression{Expression: e}, topScope(userKind))
		if err != nil {
			t.Fatalf("%q compiles and its negation does not: %v", s, err)
		}
		for _, res := range fuzzResources {
			if got := match(res); got != reprinted(res) || got == negated(res) {
				t.Fatalf("%q on %v: %v; printed and parsed again %v; negated %v", s, res, got, reprinted(res), negated(res))
			}
		}
	})
}
