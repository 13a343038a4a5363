package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// errBadFilter marks a filter that parses but cannot be evaluated against the schema.
var errBadFilter = errors.New("invalid filter")

// predicate reports whether a resource view (see view) matches a compiled filter.
type predicate func(res map[string]any) bool

// scope is what attribute names in a filter refer to: a resource kind at the top level, or the
// sub-attributes of a multi-valued attribute inside a value path such as emails[...].
type scope struct {
	kind  *resourceKind
	attrs schema.Attributes
}

func topScope(k *resourceKind) scope { return scope{kind: k, attrs: k.attrs} }

// compileFilter turns a parsed filter into a predicate, checking every attribute against the
// schema once so that evaluation cannot fail. Attribute names match case-insensitively;
// strings compare under names.Fold unless the attribute is caseExact; a multi-valued
// attribute matches when any of its values does.
func compileFilter(e filter.Expression, s scope) (predicate, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := compileFilter(e.Left, s)
		if err != nil {
			return nil, err
		}
		r, err := compileFilter(e.Right, s)
		if err != nil {
			return nil, err
		}
		if e.Operator == filter.AND {
			return func(res map[string]any) bool { return l(res) && r(res) }, nil
		}
		return func(res map[string]any) bool { return l(res) || r(res) }, nil
	case *filter.NotExpression:
		inner, err := compileFilter(e.Expression, s)
		if err != nil {
			return nil, err
		}
		return func(res map[string]any) bool { return !inner(res) }, nil
	case *filter.ValuePath:
		return compileValuePath(e, s)
	case *filter.AttributeExpression:
		return compileComparison(e, s)
	}
	return nil, fmt.Errorf("%w: unsupported expression %T", errBadFilter, e)
}

func compileValuePath(e *filter.ValuePath, s scope) (predicate, error) {
	get, attr, err := s.resolve(e.AttributePath)
	if err != nil {
		return nil, err
	}
	if attr.AttributeType() != "complex" {
		return nil, fmt.Errorf("%w: %s is not complex", errBadFilter, attr.Name())
	}
	inner, err := compileFilter(e.ValueFilter, scope{attrs: attr.SubAttributes()})
	if err != nil {
		return nil, err
	}
	return func(res map[string]any) bool {
		for _, v := range get(res) {
			if m, ok := v.(map[string]any); ok && inner(m) {
				return true
			}
		}
		return false
	}, nil
}

// compareValue is a comparison's value with the string escapes RFC 7644 borrows from JSON
// undone: the parser keeps them, but "back\\slash" means back\slash and "quo\"te" quo"te.
func compareValue(v any) any {
	s, ok := v.(string)
	if !ok || !strings.Contains(s, `\`) {
		return v
	}
	var out string
	if json.Unmarshal([]byte(`"`+s+`"`), &out) != nil {
		return v
	}
	return out
}

func compileComparison(e *filter.AttributeExpression, s scope) (predicate, error) {
	get, attr, err := s.resolve(e.AttributePath)
	if err != nil {
		return nil, err
	}
	if e.Operator == filter.PR {
		return func(res map[string]any) bool {
			for _, v := range get(res) {
				if v != "" {
					return true
				}
			}
			return false
		}, nil
	}
	match, err := comparator(attr, e.Operator, compareValue(e.CompareValue))
	if err != nil {
		return nil, err
	}
	if e.Operator == filter.NE {
		eq, _ := comparator(attr, filter.EQ, compareValue(e.CompareValue))
		return func(res map[string]any) bool { return !anyMatch(get(res), eq) }, nil
	}
	return func(res map[string]any) bool { return anyMatch(get(res), match) }, nil
}

func anyMatch(values []any, match func(any) bool) bool {
	for _, v := range values {
		if match(v) {
			return true
		}
	}
	return false
}

// resolve finds the attribute a path names and returns a getter for its values, flattened over
// multi-valued attributes.
func (s scope) resolve(p filter.AttributePath) (func(map[string]any) []any, schema.CoreAttribute, error) {
	attrs, container := s.attrs, ""
	if p.URIPrefix != nil && s.kind != nil {
		uri := *p.URIPrefix
		if ext, ok := s.kind.extension(uri); ok {
			attrs, container = ext.Attributes, ext.ID
		} else if !strings.EqualFold(uri, s.kind.core.ID) {
			return nil, schema.CoreAttribute{}, fmt.Errorf("%w: unknown schema %s", errBadFilter, uri)
		}
	}
	attr, ok := findAttr(attrs, p.AttributeName)
	if !ok {
		return nil, schema.CoreAttribute{}, fmt.Errorf("%w: unknown attribute %s", errBadFilter, p.AttributeName)
	}
	name, sub := attr.Name(), ""
	if p.SubAttribute != nil {
		subAttr, ok := findAttr(attr.SubAttributes(), *p.SubAttribute)
		if !ok {
			return nil, schema.CoreAttribute{}, fmt.Errorf("%w: unknown sub-attribute %s.%s", errBadFilter, name, *p.SubAttribute)
		}
		attr, sub = subAttr, subAttr.Name()
	}
	get := func(res map[string]any) []any {
		if container != "" {
			res, _ = res[container].(map[string]any)
		}
		return flatten(res[name], sub)
	}
	return get, attr, nil
}

// flatten lists the values of an attribute (or of one of its sub-attributes), one per element
// of a multi-valued attribute, dropping absent ones.
func flatten(v any, sub string) []any {
	var out []any
	add := func(x any) {
		if sub != "" {
			m, _ := x.(map[string]any)
			x = m[sub]
		}
		if x != nil {
			out = append(out, x)
		}
	}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			add(x)
		}
	} else if v != nil {
		add(v)
	}
	return out
}

// comparator builds the test one value must pass for op against the filter's literal.
func comparator(attr schema.CoreAttribute, op filter.CompareOperator, literal any) (func(any) bool, error) {
	bad := func(why string) (func(any) bool, error) {
		return nil, fmt.Errorf("%w: %s %s: %s", errBadFilter, attr.Name(), op, why)
	}
	switch attr.AttributeType() {
	case "boolean":
		want, ok := literal.(bool)
		if !ok || (op != filter.EQ && op != filter.NE) {
			return bad("booleans compare with eq or ne to true or false")
		}
		return func(v any) bool { b, ok := v.(bool); return ok && b == want }, nil
	case "integer", "decimal":
		want, ok := toFloat(literal)
		if !ok {
			return bad("needs a number")
		}
		return orderedCompare(op, func(v any) (int, bool) {
			f, ok := toFloat(v)
			if !ok {
				return 0, false
			}
			return cmpFloat(f, want), true
		})
	case "dateTime":
		s, ok := literal.(string)
		want, err := parseTime(s)
		if !ok || err != nil {
			return bad("needs a date and time such as \"2026-01-02T15:04:05Z\"")
		}
		return orderedCompare(op, func(v any) (int, bool) {
			s, _ := v.(string)
			t, err := parseTime(s)
			if err != nil {
				return 0, false
			}
			return t.Compare(want), true
		})
	case "complex":
		return bad("compare a sub-attribute of a complex attribute")
	}
	want, ok := literal.(string)
	if !ok {
		return bad("needs a quoted string")
	}
	if attr.AttributeType() == "binary" && op != filter.EQ && op != filter.NE {
		return bad("binary values compare with eq or ne")
	}
	fold := func(s string) string { return s }
	if !attr.CaseExact() {
		// As the store indexes userName and emails, so an indexed candidate and a scanned
		// resource match the same literal.
		fold = names.Fold
	}
	want = fold(want)
	str := func(v any) (string, bool) { s, ok := v.(string); return fold(s), ok }
	switch op {
	case filter.CO:
		return func(v any) bool { s, ok := str(v); return ok && strings.Contains(s, want) }, nil
	case filter.SW:
		return func(v any) bool { s, ok := str(v); return ok && strings.HasPrefix(s, want) }, nil
	case filter.EW:
		return func(v any) bool { s, ok := str(v); return ok && strings.HasSuffix(s, want) }, nil
	}
	return orderedCompare(op, func(v any) (int, bool) {
		s, ok := str(v)
		return strings.Compare(s, want), ok
	})
}

func orderedCompare(op filter.CompareOperator, cmp func(any) (int, bool)) (func(any) bool, error) {
	var test func(int) bool
	switch op {
	case filter.EQ, filter.NE:
		test = func(c int) bool { return c == 0 }
	case filter.GT:
		test = func(c int) bool { return c > 0 }
	case filter.GE:
		test = func(c int) bool { return c >= 0 }
	case filter.LT:
		test = func(c int) bool { return c < 0 }
	case filter.LE:
		test = func(c int) bool { return c <= 0 }
	default:
		return nil, fmt.Errorf("%w: operator %s does not apply", errBadFilter, op)
	}
	return func(v any) bool { c, ok := cmp(v); return ok && test(c) }, nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseTime accepts the xsd:dateTime forms clients send: with or without fractional seconds,
// with Z or an offset.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a date and time", errBadFilter, s)
}
