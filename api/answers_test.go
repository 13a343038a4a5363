package api_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Every answer a test receives is checked against the OpenAPI document: its status must be one
// the operation lists, and a JSON body must match the schema the document gives for it. The
// reflection test compares the schemas with the Go types; this compares them with what the
// handlers actually send, in every test of the package.

type documentedOp struct {
	path   *regexp.Regexp
	method string
	op     map[string]any
}

var (
	documentOnce sync.Once
	document     map[string]any
	documentOps  []documentedOp
	documentErr  error
)

func loadDocument() {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		documentErr = err
		return
	}
	if documentErr = json.Unmarshal(raw, &document); documentErr != nil {
		return
	}
	paths, _ := document["paths"].(map[string]any)
	for path, ops := range paths {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`) + "$")
		for method, op := range ops.(map[string]any) {
			if method != "parameters" {
				documentOps = append(documentOps, documentedOp{path: re, method: strings.ToUpper(method), op: op.(map[string]any)})
			}
		}
	}
}

// checkAnswer reports where an answer departs from the document.
func checkAnswer(t *testing.T, method, path string, status int, contentType string, body []byte) {
	t.Helper()
	documentOnce.Do(loadDocument)
	if documentErr != nil {
		t.Fatalf("openapi.json: %v", documentErr)
	}
	path, _, _ = strings.Cut(path, "?")
	i := slices.IndexFunc(documentOps, func(o documentedOp) bool { return o.method == method && o.path.MatchString(path) })
	if i < 0 {
		return // no such operation: the gateway's unmatched answers, tested on their own
	}
	op := documentOps[i]
	responses, _ := op.op["responses"].(map[string]any)
	resp, ok := responses[fmt.Sprint(status)].(map[string]any)
	if !ok {
		t.Errorf("%s %s answered %d, which the document does not list", method, path, status)
		return
	}
	resp = resolve(resp)
	mediaType, _, _ := strings.Cut(contentType, ";")
	content, _ := resp["content"].(map[string]any)
	media, ok := content[mediaType].(map[string]any)
	if !ok {
		if len(body) > 0 {
			t.Errorf("%s %s %d: content type %q is not documented", method, path, status, contentType)
		}
		return
	}
	schema, _ := media["schema"].(map[string]any)
	if mediaType != "application/json" && mediaType != "application/problem+json" {
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s %s %d: not JSON: %v", method, path, status, err)
		return
	}
	for _, problem := range validate("body", schema, v) {
		t.Errorf("%s %s %d: %s", method, path, status, problem)
	}
}

// resolve follows a $ref into the document.
func resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		var node any = document
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			node = node.(map[string]any)[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
		}
		s = node.(map[string]any)
	}
}

// validate checks a JSON value against the subset of OpenAPI 3.0 schemas the document uses.
func validate(at string, s map[string]any, v any) []string {
	s = resolve(s)
	var out []string
	for _, part := range asList(s["allOf"]) {
		if v != nil || s["nullable"] != true {
			out = append(out, validate(at, part.(map[string]any), v)...)
		}
	}
	typ, _ := s["type"].(string)
	if v == nil {
		if typ != "" && s["nullable"] != true {
			out = append(out, at+" is null")
		}
		return out
	}
	if enum := asList(s["enum"]); enum != nil && !slices.Contains(enum, v) {
		out = append(out, fmt.Sprintf("%s is %v, not one of %v", at, v, enum))
	}
	bad := func() []string { return append(out, fmt.Sprintf("%s is %T, not %s", at, v, typ)) }
	switch typ {
	case "string":
		if _, ok := v.(string); !ok {
			return bad()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok || (typ == "integer" && n != math.Trunc(n)) {
			return bad()
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			return bad()
		}
		items, _ := s["items"].(map[string]any)
		for i, el := range list {
			out = append(out, validate(fmt.Sprintf("%s[%d]", at, i), items, el)...)
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				out = append(out, fmt.Sprintf("%s.%s is required and missing", at, r))
			}
		}
		for k, x := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				out = append(out, validate(at+"."+k, ps, x)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					out = append(out, fmt.Sprintf("%s.%s is not in the schema", at, k))
				}
			case map[string]any:
				out = append(out, validate(at+"."+k, ap, x)...)
			}
		}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }
