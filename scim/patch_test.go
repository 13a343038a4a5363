package scim

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

func op(t testing.TB, kind, path string, value any) scim.PatchOperation {
	t.Helper()
	o := scim.PatchOperation{Op: kind, Value: value}
	if path != "" {
		p, err := filter.ParsePath([]byte(path))
		if err != nil {
			t.Fatalf("path %s: %v", path, err)
		}
		o.Path = &p
	}
	return o
}

func patched(t *testing.T, k *resourceKind, doc string, ops ...scim.PatchOperation) string {
	t.Helper()
	d := mustView(t, doc)
	for _, o := range ops {
		if err := k.applyPatch(d, o); err != nil {
			t.Fatalf("%v: %v", o, err)
		}
	}
	n, err := k.normalize(d)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	delete(n, "schemas")
	b, _ := json.Marshal(n)
	return string(b)
}

func jsonOf(t *testing.T, s string) string {
	t.Helper()
	v := mustView(t, s)
	b, _ := json.Marshal(v)
	return string(b)
}

func TestApplyPatch(t *testing.T) {
	base := `{"userName":"a","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"}]}`
	cases := []struct {
		name string
		ops  []scim.PatchOperation
		want string
	}{
		{"replace simple", []scim.PatchOperation{op(t, "replace", "userName", "b")},
			`{"userName":"b","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"}]}`},
		{"replace complex keeps other sub-attributes", []scim.PatchOperation{op(t, "replace", "name", map[string]any{"givenName": "Z"})},
			`{"userName":"a","name":{"givenName":"Z","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"}]}`},
		{"sub-attribute", []scim.PatchOperation{op(t, "add", "name.middleName", "M")},
			`{"userName":"a","name":{"givenName":"A","familyName":"B","middleName":"M"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"}]}`},
		{"add to a multi-valued attribute skips what is there", []scim.PatchOperation{op(t, "add", "emails", []any{map[string]any{"value": "a@w", "type": "work", "primary": true}, map[string]any{"value": "n@x"}})},
			`{"userName":"a","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"},{"value":"n@x"}]}`},
		{"a new primary demotes the old one", []scim.PatchOperation{op(t, "add", "emails", []any{map[string]any{"value": "p@x", "primary": true}})},
			`{"userName":"a","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":false},{"value":"a@h","type":"home"},{"value":"p@x","primary":true}]}`},
		{"value-path sub-attribute", []scim.PatchOperation{op(t, "replace", `emails[type eq "home"].value`, "new@h")},
			`{"userName":"a","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"new@h","type":"home"}]}`},
		{"value-path with no match creates the element", []scim.PatchOperation{op(t, "add", `emails[type eq "other"].value`, "o@x")},
			`{"userName":"a","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"},{"value":"o@x","type":"other"}]}`},
		{"remove by value-path", []scim.PatchOperation{op(t, "remove", `emails[type eq "work"]`, nil)},
			`{"userName":"a","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@h","type":"home"}]}`},
		{"remove the last element drops the attribute", []scim.PatchOperation{op(t, "remove", `emails[value co "@"]`, nil)},
			`{"userName":"a","name":{"givenName":"A","familyName":"B"}}`},
		{"remove a sub-attribute", []scim.PatchOperation{op(t, "remove", "name.familyName", nil)},
			`{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"}]}`},
		{"path-less with dotted and URN keys", []scim.PatchOperation{op(t, "replace", "", map[string]any{
			"name.givenName": "G", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"costCenter": "C"}, "ACTIVE": "False"})},
			`{"userName":"a","active":false,"name":{"givenName":"G","familyName":"B"},"emails":[{"value":"a@w","type":"work","primary":true},{"value":"a@h","type":"home"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D","costCenter":"C"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := patched(t, userKind, base, c.ops...); got != jsonOf(t, c.want) {
				t.Errorf("got  %s\nwant %s", got, jsonOf(t, c.want))
			}
		})
	}
}

func TestGroupMemberPatches(t *testing.T) {
	base := `{"displayName":"g","members":[{"value":"a"},{"value":"b"},{"value":"c"}]}`
	for name, c := range map[string]struct {
		ops  []scim.PatchOperation
		want string
	}{
		"Entra remove by value array": {[]scim.PatchOperation{op(t, "remove", "members", []any{map[string]any{"value": "b", "$ref": nil}})},
			`{"displayName":"g","members":[{"value":"a"},{"value":"c"}]}`},
		"remove by filter then add": {[]scim.PatchOperation{op(t, "remove", `members[value eq "a"]`, nil), op(t, "add", "members", []any{map[string]any{"value": "d"}})},
			`{"displayName":"g","members":[{"value":"b"},{"value":"c"},{"value":"d"}]}`},
		"remove all": {[]scim.PatchOperation{op(t, "remove", "members", nil)}, `{"displayName":"g"}`},
		"replace all": {[]scim.PatchOperation{op(t, "replace", "members", []any{map[string]any{"value": "z"}})},
			`{"displayName":"g","members":[{"value":"z"}]}`},
	} {
		t.Run(name, func(t *testing.T) {
			if got := patched(t, groupKind, base, c.ops...); got != jsonOf(t, c.want) {
				t.Errorf("got  %s\nwant %s", got, jsonOf(t, c.want))
			}
		})
	}
}

func TestPatchRefusals(t *testing.T) {
	doc := `{"userName":"a"}`
	for name, o := range map[string]scim.PatchOperation{
		"unknown attribute":      op(t, "replace", "nosuch", "x"),
		"read-only":              op(t, "add", "groups", []any{map[string]any{"value": "g"}}),
		"filter on single value": op(t, "replace", `userName[value eq "a"]`, "x"),
		"path-less non-object":   op(t, "replace", "", "x"),
		"unknown schema":         op(t, "replace", "urn:example:x:attr", "x"),
	} {
		t.Run(name, func(t *testing.T) {
			if err := userKind.applyPatch(mustView(t, doc), o); err == nil {
				t.Error("applied")
			}
		})
	}
	d := mustView(t, doc)
	if err := userKind.applyPatch(d, op(t, "remove", "userName", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := userKind.normalize(d); err == nil {
		t.Error("a document without its required userName passed")
	}
}

// fuzzDocument is what FuzzPatch patches: core attributes, a group's members and an extension.
func fuzzDocument() map[string]any {
	return map[string]any{"userName": "u", "displayName": "g", "title": "t", "active": true,
		"name":             map[string]any{"givenName": "G", "familyName": "F"},
		"emails":           []any{map[string]any{"value": "e", "type": "work", "primary": true}, map[string]any{"value": "h", "type": "home"}},
		"members":          []any{map[string]any{"value": "m"}},
		enterpriseSchemaID: map[string]any{"department": "d", "employeeNumber": "1", "manager": map[string]any{"value": "mgr"}}}
}

// namedBy lists what an operation names: core attributes by their canonical name, extension
// attributes as "<urn>:<name>". A path-less operation names each key of its value.
func namedBy(k *resourceKind, o scim.PatchOperation) map[string]bool {
	names := map[string]bool{}
	add := func(p filter.AttributePath) {
		if p.URIPrefix != nil {
			if ext, ok := k.extension(*p.URIPrefix); ok {
				if a, ok := findAttr(ext.Attributes, p.AttributeName); ok {
					names[ext.ID+":"+a.Name()] = true
				}
				return
			}
		}
		if a, ok := findAttr(append(append(schema.Attributes{}, k.core.Attributes...), externalIDAttr()), p.AttributeName); ok {
			names[a.Name()] = true
		}
	}
	if o.Path != nil {
		add(o.Path.AttributePath)
		return names
	}
	obj, _ := o.Value.(map[string]any)
	for key, val := range obj {
		if ext, ok := k.extension(key); ok {
			inner, _ := val.(map[string]any)
			for sub := range inner {
				if p, err := filter.ParsePath([]byte(ext.ID + ":" + sub)); err == nil {
					add(p.AttributePath)
				}
			}
			continue
		}
		if p, err := filter.ParsePath([]byte(key)); err == nil {
			add(p.AttributePath)
		}
	}
	return names
}

// FuzzPatch: any operation is applied or refused, never a panic. One that applies changes
// nothing it does not name: every other attribute, core or of an extension, is as it was, and
// none appears. Whatever applies is then normalized or refused as a whole.
func FuzzPatch(f *testing.F) {
	for _, s := range []struct{ op, path, value string }{
		{"add", `emails[type eq "work"].value`, `"x@y"`}, {"remove", `members[value eq "a"]`, `null`},
		{"replace", "", `{"name.givenName":"g","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":{"value":"m"}}`},
		{"replace", "name", `{"givenName":1}`}, {"add", "emails", `[{"value":"a"},"b",3]`}, {"remove", "emails.value", `[{"value":"a"}]`},
		{"Replace", "active", `"False"`}, {"add", `addresses[type eq "work"].streetAddress`, `"1 Main"`},
		{"add", "emails", `[{"value":"p","primary":true}]`}, {"replace", "", `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"x"}}`},
		{"remove", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", `null`},
		{"replace", "urn:ietf:params:scim:schemas:core:2.0:User:userName", `"v"`}, {"remove", "", `{"title":null}`},
	} {
		f.Add(s.op, s.path, s.value)
	}
	f.Fuzz(func(t *testing.T, kind, path, value string) {
		var v any
		if json.Unmarshal([]byte(value), &v) != nil {
			return
		}
		o := scim.PatchOperation{Op: kind, Value: v}
		if path != "" {
			p, err := filter.ParsePath([]byte(path))
			if err != nil {
				return
			}
			o.Path = &p
		}
		for _, k := range []*resourceKind{userKind, groupKind} {
			d, before := fuzzDocument(), fuzzDocument()
			if k.applyPatch(d, o) != nil {
				continue
			}
			named := namedBy(k, o)
			for key := range mergedKeys(before, d) {
				if ext, ok := k.extension(key); ok {
					was, _ := before[key].(map[string]any)
					is, _ := d[key].(map[string]any)
					for sub := range mergedKeys(was, is) {
						if !named[ext.ID+":"+sub] && !reflect.DeepEqual(was[sub], is[sub]) {
							t.Fatalf("%s %q %s on a %s changed %s:%s, which it does not name: %v -> %v", kind, path, value, k.name, key, sub, was[sub], is[sub])
						}
					}
					continue
				}
				if !named[key] && !reflect.DeepEqual(before[key], d[key]) {
					t.Fatalf("%s %q %s on a %s changed %s, which it does not name: %v -> %v", kind, path, value, k.name, key, before[key], d[key])
				}
			}
			_, _ = k.normalize(d)
		}
	})
}

func mergedKeys(a, b map[string]any) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

func TestRewriteManager(t *testing.T) {
	urn := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for in, want := range map[string]string{
		`{"` + urn + `":{"manager":"m1"}}`:                                        `{"` + urn + `":{"manager":{"value":"m1"}}}`,
		`{"` + urn + `":{"Manager":[{"value":"m1"}]}}`:                            `{"` + urn + `":{"Manager":{"value":"m1"}}}`,
		`{"Operations":[{"op":"Add","path":"` + urn + `:manager","value":"m2"}]}`: `{"Operations":[{"op":"Add","path":"` + urn + `:manager","value":{"value":"m2"}}]}`,
		`{"Operations":[{"op":"Add","path":"manager","value":"m2"}]}`:             `{"Operations":[{"op":"Add","path":"` + urn + `:manager","value":{"value":"m2"}}]}`,
		`{"Operations":[{"op":"replace","value":{"` + urn + `:manager":"m3"}}]}`:  `{"Operations":[{"op":"replace","value":{"` + urn + `:manager":{"value":"m3"}}}]}`,
		`{"userName":"no manager here"}`:                                          `{"userName":"no manager here"}`,
	} {
		if got := string(rewriteManager([]byte(in))); jsonOf(t, got) != jsonOf(t, want) {
			t.Errorf("%s\n got %s\nwant %s", in, got, want)
		}
	}
	if got := string(rewriteManager([]byte(`{"manager": broken`))); got != `{"manager": broken` {
		t.Errorf("invalid JSON must pass through for the library to refuse: %s", got)
	}
}

func TestMemberChangesClassification(t *testing.T) {
	rename := op(t, "replace", "", map[string]any{"displayName": "x"})
	for name, c := range map[string]struct {
		ops     []scim.PatchOperation
		byValue bool
		changes int
		others  int
	}{
		"Entra add and remove by value": {[]scim.PatchOperation{
			op(t, "add", "members", []any{map[string]any{"value": "a"}, map[string]any{"value": "b"}}),
			op(t, "remove", "members", []any{map[string]any{"value": "c"}})}, true, 3, 0},
		"Okta rename, remove by filter, add": {[]scim.PatchOperation{rename,
			op(t, "remove", `members[value eq "a"]`, nil), op(t, "add", "members", []any{map[string]any{"value": "b"}})}, true, 2, 1},
		"replace members needs the list":   {[]scim.PatchOperation{op(t, "replace", "members", []any{map[string]any{"value": "a"}})}, false, 0, 0},
		"remove all needs the list":        {[]scim.PatchOperation{op(t, "remove", "members", nil)}, false, 0, 0},
		"filter on display needs the list": {[]scim.PatchOperation{op(t, "remove", `members[display co "x"]`, nil)}, false, 0, 0},
		"path-less members needs the list": {[]scim.PatchOperation{op(t, "replace", "", map[string]any{"Members": []any{}})}, false, 0, 0},
		"element without value":            {[]scim.PatchOperation{op(t, "add", "members", []any{map[string]any{"display": "x"}})}, false, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			others, changes, byValue := groupKind.memberChanges(c.ops)
			if byValue != c.byValue || (byValue && (len(changes) != c.changes || len(others) != c.others)) {
				t.Errorf("byValue %v, %d changes, %d others", byValue, len(changes), len(others))
			}
		})
	}
	if _, _, byValue := userKind.memberChanges([]scim.PatchOperation{rename}); byValue {
		t.Error("users have no members")
	}
}
