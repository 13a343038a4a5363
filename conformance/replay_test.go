package conformance

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// replay is a recorded IdP conversation (see fixtures/idp/README.md).
type replay struct {
	Source string `json:"source"`
	Steps  []struct {
		Name    string            `json:"name"`
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Body    json.RawMessage   `json:"body"`
		Status  int               `json:"status"`
		Capture map[string]string `json:"capture"`
		Expect  map[string]any    `json:"expect"`
		Absent  []string          `json:"absent"`
		Count   map[string]int    `json:"count"`
		// Values maps a multi-valued path to the exact set of its elements' "value"s.
		Values map[string][]string `json:"values"`
	} `json:"steps"`
}

var placeholder = regexp.MustCompile(`\{\{(\w+)\}\}`)

func TestIdPReplays(t *testing.T) {
	files, err := filepath.Glob("../fixtures/idp/*/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("recorded IdP fixtures missing: %v %v", files, err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var r replay
		if err := json.Unmarshal(raw, &r); err != nil || len(r.Steps) == 0 || r.Source == "" {
			t.Fatalf("%s: unreadable or empty fixture: %v", file, err)
		}
		name := strings.TrimPrefix(file, "../fixtures/idp/")
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"run": unique("r")}
			fill := func(s string) string {
				return placeholder.ReplaceAllStringFunc(s, func(m string) string {
					v, ok := vars[m[2:len(m)-2]]
					if !ok {
						t.Fatalf("%s: placeholder %s has no value yet", file, m)
					}
					return v
				})
			}
			for i, step := range r.Steps {
				var body any
				if len(step.Body) > 0 {
					body = []byte(fill(string(step.Body)))
				}
				resp := gw.call(t, step.Method, encodeQuery(fill(step.Path)), body)
				where := fmt.Sprintf("step %d (%s): %s %s", i+1, step.Name, step.Method, step.Path)
				if resp.status != step.Status {
					t.Fatalf("%s: status %d, want %d: %s", where, resp.status, step.Status, resp.raw)
				}
				for path, want := range step.Expect {
					if s, ok := want.(string); ok {
						want = fill(s)
					}
					if got := get(resp.body, path); !sameJSON(got, want) {
						t.Errorf("%s: %s = %v, want %v", where, path, got, want)
					}
				}
				for _, path := range step.Absent {
					if got := get(resp.body, path); got != nil {
						t.Errorf("%s: %s present: %v", where, path, got)
					}
				}
				for path, n := range step.Count {
					if list, _ := get(resp.body, path).([]any); len(list) != n {
						t.Errorf("%s: %s has %d elements, want %d", where, path, len(list), n)
					}
				}
				for path, want := range step.Values {
					got := map[string]bool{}
					list, _ := get(resp.body, path).([]any)
					for _, el := range list {
						got[str(get(el, "value"))] = true
					}
					for _, w := range want {
						if !got[fill(w)] {
							t.Errorf("%s: %s lacks %s", where, path, fill(w))
						}
					}
					if len(list) != len(want) {
						t.Errorf("%s: %s has %d elements, want %d", where, path, len(list), len(want))
					}
				}
				if key := dottedKey(resp.body); key != "" {
					t.Errorf("%s: a path was stored as a literal key %q", where, key)
				}
				for name, path := range step.Capture {
					v := str(get(resp.body, path))
					if v == "" {
						t.Fatalf("%s: nothing to capture at %s", where, path)
					}
					vars[name] = v
				}
			}
		})
	}
}

// encodeQuery encodes the query values a fixture writes unencoded for reading.
func encodeQuery(path string) string {
	p, q, found := strings.Cut(path, "?")
	if !found {
		return path
	}
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, hasValue := strings.Cut(kv, "=")
		if hasValue {
			parts = append(parts, k+"="+url.QueryEscape(v))
		} else {
			parts = append(parts, k)
		}
	}
	return p + "?" + strings.Join(parts, "&")
}

func sameJSON(got, want any) bool {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	return reflect.DeepEqual(x, y)
}

// dottedKey finds an object key holding a dot that is not a schema URN: the sign of a PATCH
// path stored as a key ("name.givenName") instead of applied.
func dottedKey(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.Contains(k, ".") && !strings.HasPrefix(k, "urn:") {
				return k
			}
			if found := dottedKey(val); found != "" {
				return found
			}
		}
	case []any:
		for _, val := range x {
			if found := dottedKey(val); found != "" {
				return found
			}
		}
	}
	return ""
}
