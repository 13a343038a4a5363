package scim

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Entra ID sends the enterprise manager as a bare string where RFC 7643 has a complex
// attribute ({"value": id}), in POST bodies and PATCH values alike, and sometimes names it
// "manager" without its URN. The library refuses all of these, so they are rewritten before it
// sees them. Bodies that do not mention a manager pass untouched and undecoded.

var managerPath = enterpriseSchemaID + ":manager"

func rewriteManager(body []byte) []byte {
	if !bytes.Contains(bytes.ToLower(body), []byte("manager")) {
		return body
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return body // the library reports the syntax error
	}
	changed := false
	if ext, ok := lookupFold(doc, enterpriseSchemaID).(map[string]any); ok {
		changed = wrapManager(ext) || changed
	}
	if ops, ok := lookupFold(doc, "Operations").([]any); ok {
		for _, o := range ops {
			if op, ok := o.(map[string]any); ok {
				changed = rewriteManagerOp(op) || changed
			}
		}
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

func rewriteManagerOp(op map[string]any) bool {
	pathKey, path := keyFold(op, "path")
	valueKey, value := keyFold(op, "value")
	p, _ := path.(string)
	changed := false
	if strings.EqualFold(p, "manager") {
		op[pathKey], p, changed = managerPath, managerPath, true
	}
	if strings.EqualFold(p, managerPath) {
		if wrapped, ok := managerValue(value); ok {
			op[valueKey], changed = wrapped, true
		}
		return changed
	}
	obj, ok := value.(map[string]any)
	if !ok || p != "" {
		return changed
	}
	// Path-less: the manager may be a URN-qualified key or sit inside the extension's object.
	for k, v := range obj {
		if strings.EqualFold(k, managerPath) {
			if wrapped, ok := managerValue(v); ok {
				obj[k], changed = wrapped, true
			}
		}
		if ext, ok := v.(map[string]any); ok && strings.EqualFold(k, enterpriseSchemaID) {
			changed = wrapManager(ext) || changed
		}
	}
	return changed
}

func wrapManager(ext map[string]any) bool {
	k, v := keyFold(ext, "manager")
	if wrapped, ok := managerValue(v); ok {
		ext[k] = wrapped
		return true
	}
	return false
}

// managerValue turns "id" or [{"value":"id"}] into {"value":"id"}.
func managerValue(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil, true
		}
		return map[string]any{"value": x}, true
	case []any:
		if len(x) == 1 {
			if m, ok := x[0].(map[string]any); ok {
				return m, true
			}
			if s, ok := x[0].(string); ok {
				return map[string]any{"value": s}, true
			}
		}
	}
	return nil, false
}

func keyFold(m map[string]any, key string) (string, any) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return k, v
		}
	}
	return "", nil
}

func lookupFold(m map[string]any, key string) any {
	_, v := keyFold(m, key)
	return v
}
