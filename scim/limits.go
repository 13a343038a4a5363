package scim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	scimerrors "github.com/elimity-com/scim/errors"
)

// Filter limits. Identity providers send short filters: Entra ID and Okta look a resource up
// with one comparison, or a value path holding two. The filter parser costs about 4 µs a byte,
// so without limits a client spends the gateway's CPU at will: 380 KB of or-ed comparisons
// took 4 s. The limits apply to list filters and to the value filters of PATCH paths, and
// are checked before anything parses them.
const (
	maxFilterBytes = 4096
	maxFilterTerms = 50 // comparisons joined by and / or
	maxFilterDepth = 10 // parentheses and value-path brackets inside one another
)

// filterTooBig says how a filter or path exceeds the limits, or "" when it does not.
func filterTooBig(raw string) string {
	if len(raw) > maxFilterBytes {
		return fmt.Sprintf("is longer than %d bytes", maxFilterBytes)
	}
	terms, depth, deepest, quoted := 1, 0, 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quoted && c == '\\':
			i++ // an escaped character, perhaps a quote
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == ')' || c == ']':
			depth--
		case wordByte(c) && (i == 0 || !wordByte(raw[i-1])):
			end := i
			for end < len(raw) && wordByte(raw[end]) {
				end++
			}
			if w := raw[i:end]; len(w) <= 3 && (equalFoldASCII(w, "and") || equalFoldASCII(w, "or")) {
				terms++
			}
			i = end - 1
		}
	}
	switch {
	case terms > maxFilterTerms:
		return fmt.Sprintf("joins more than %d comparisons", maxFilterTerms)
	case deepest > maxFilterDepth:
		return fmt.Sprintf("nests parentheses and brackets more than %d deep", maxFilterDepth)
	}
	return ""
}

// wordByte reports whether c can be part of an attribute name, operator or URN.
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '_' || c == '-' || c == '$'
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if a[i]|0x20 != b[i]|0x20 {
			return false
		}
	}
	return true
}

// checkPatchPaths refuses a PATCH whose operation paths exceed the filter limits, before the
// library parses them: each operation's path, and the keys of a path-less value (each one a
// path, within an extension's object too). A body that is not JSON passes: the library
// reports that.
func checkPatchPaths(body []byte) error {
	var req struct {
		Operations []struct {
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	bad := func(i int, what, why string) error {
		return scimerrors.ScimError{Status: 400, ScimType: scimerrors.ScimTypeInvalidPath, Detail: fmt.Sprintf("Operations[%d].%s %s.", i, what, why)}
	}
	for i, op := range req.Operations {
		if why := filterTooBig(op.Path); why != "" {
			return bad(i, "path", why)
		}
		var keys map[string]json.RawMessage
		if op.Path != "" || json.Unmarshal(op.Value, &keys) != nil {
			continue
		}
		for k, v := range keys {
			var inner map[string]json.RawMessage
			_ = json.Unmarshal(v, &inner)
			for _, key := range append(slices.Collect(maps.Keys(inner)), k) {
				if why := filterTooBig(key); why != "" {
					return bad(i, "value has a key that", why)
				}
			}
		}
	}
	return nil
}
