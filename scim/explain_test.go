package scim

import (
	"encoding/json"
	"strings"
	"testing"
)

const userSchemas = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`

// A refused body answers which attribute is at fault and what it must be, with the scimType
// RFC 7644 gives the fault; a PATCH that would leave a required attribute unassigned answers
// "mutability" (§3.5.2.2).
func TestRefusalsNameTheAttribute(t *testing.T) {
	p := newInProcess(t)
	id := p.seed(t, 1)[0]
	rec := p.do(t, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"}`)
	if rec.Code != 201 {
		t.Fatalf("group: %d %s", rec.Code, rec.Body)
	}
	gid := rec.Header().Get("Location")[len("http://gatehouse.test/scim/v2/Groups/"):]
	patch := func(ops string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`
	}
	for name, tc := range map[string]struct {
		method, path, body string
		scimType, says     string
	}{
		"a number for a string":   {"POST", "/Users", `{` + userSchemas + `,"userName":5}`, "invalidValue", "userName must be a string."},
		"no userName":             {"POST", "/Users", `{` + userSchemas + `,"displayName":"x"}`, "invalidValue", "userName is required."},
		"an element's field":      {"POST", "/Users", `{` + userSchemas + `,"userName":"n","emails":[{"value":"a@b"},{"value":5}]}`, "invalidValue", "emails[1].value must be a string."},
		"a word for a boolean":    {"POST", "/Users", `{` + userSchemas + `,"userName":"n","active":"maybe"}`, "invalidValue", "active must be true or false."},
		"a string for an object":  {"POST", "/Users", `{` + userSchemas + `,"userName":"n","name":"Ada"}`, "invalidValue", "name must be an object with formatted, familyName"},
		"an extension attribute":  {"PUT", "/Users/" + id, `{` + userSchemas + `,"userName":"n","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":3}}`, "invalidValue", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department must be a string."},
		"a name given twice":      {"POST", "/Users", `{` + userSchemas + `,"userName":"n","UserName":"m"}`, "invalidSyntax", "userName appears twice"},
		"no core schema":          {"POST", "/Users", `{"userName":"n"}`, "invalidSyntax", `schemas must list "urn:ietf:params:scim:schemas:core:2.0:User"`},
		"a list of words":         {"POST", "/Users", `{` + userSchemas + `,"userName":"n","emails":"a@b"}`, "invalidSyntax", "emails must be a list of objects with value, display, type, primary"},
		"a member's value":        {"POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"h","members":[{"value":7}]}`, "invalidValue", "members[0].value must be a string."},
		"not JSON":                {"POST", "/Users", `{"userName":`, "invalidSyntax", "The body is not a JSON object"},
		"a PATCH value":           {"PATCH", "/Users/" + id, patch(`{"op":"replace","path":"active","value":"maybe"}`), "invalidValue", "Operations[0]: active must be true or false."},
		"a path-less PATCH value": {"PATCH", "/Users/" + id, patch(`{"op":"add","path":"title","value":"t"},{"op":"replace","value":{"name":{"givenName":1}}}`), "invalidValue", "Operations[1]: name.givenName must be a string."},
		"an unknown path":         {"PATCH", "/Users/" + id, patch(`{"op":"replace","path":"nosuch","value":"x"}`), "invalidPath", `Operations[0]: User has no attribute "nosuch".`},
		"a broken path":           {"PATCH", "/Users/" + id, patch(`{"op":"replace","path":"emails[type eq","value":"x"}`), "invalidPath", `Operations[0]: "emails[type eq" is not an attribute path.`},
		"a read-only attribute":   {"PATCH", "/Users/" + id, patch(`{"op":"add","path":"groups","value":[{"value":"g"}]}`), "mutability", "groups is read-only"},
		"remove without a path":   {"PATCH", "/Users/" + id, patch(`{"op":"remove"}`), "noTarget", "Operations[0]: remove needs a path"},
		"an unknown op":           {"PATCH", "/Users/" + id, patch(`{"op":"delete","path":"title"}`), "invalidValue", "Operations[0].op must be add, remove or replace."},
		"a PATCH schema":          {"PATCH", "/Users/" + id, `{"schemas":["urn:x"],"Operations":[{"op":"add","path":"title","value":"t"}]}`, "invalidValue", `schemas must be ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`},
		"removing userName":       {"PATCH", "/Users/" + id, patch(`{"op":"remove","path":"userName"}`), "mutability", "userName is required: a PATCH cannot remove it"},
		"removing displayName":    {"PATCH", "/Groups/" + gid, patch(`{"op":"remove","path":"displayName"}`), "mutability", "displayName is required: a PATCH cannot remove it"},
		"a path-less null":        {"PATCH", "/Users/" + id, patch(`{"op":"replace","value":{"userName":null}}`), "mutability", "Operations[0]: userName is required: a PATCH cannot remove it"},
		"the id":                  {"PATCH", "/Users/" + id, patch(`{"op":"replace","path":"id","value":"x"}`), "mutability", "id is read-only"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := p.do(t, tc.method, tc.path, tc.body)
			var e struct {
				ScimType, Detail, Status string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != 400 || e.Status != "400" || e.ScimType != tc.scimType || !strings.Contains(e.Detail, tc.says) {
				t.Fatalf("%d %s, want 400 %s saying %q", rec.Code, rec.Body, tc.scimType, tc.says)
			}
		})
	}
	// Nothing was written: the user is as seeded.
	rec = p.do(t, "GET", "/Users/"+id, "")
	if !strings.Contains(rec.Body.String(), `"userName":"user000000@contoso.example"`) || !strings.Contains(rec.Body.String(), `"version":"W/\"1\""`) {
		t.Fatalf("a refusal changed the user: %s", rec.Body)
	}
}

// Empty values are no values (RFC 7643 §2.5): what a client sends as [], {} or null is not
// stored and not answered, in a POST, a PUT or a PATCH alike.
func TestEmptyValuesAreAbsent(t *testing.T) {
	p := newInProcess(t)
	rec := p.do(t, "POST", "/Users", `{`+userSchemas+`,"userName":"empty","roles":[],"emails":[{"value":"e@x","display":null},{}],"name":{},
		"nickName":null,"x509Certificates":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{},"department":null}}`)
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	id := rec.Header().Get("Location")[len("http://gatehouse.test/scim/v2/Users/"):]
	check := func(step, body string) {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %v %s", step, err, body)
		}
		for _, absent := range []string{"roles", "name", "nickName", "x509Certificates", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"} {
			if _, ok := v[absent]; ok {
				t.Errorf("%s: %s is present: %s", step, absent, body)
			}
		}
		if emails, _ := json.Marshal(v["emails"]); string(emails) != `[{"value":"e@x"}]` {
			t.Errorf("%s: emails %s", step, emails)
		}
	}
	check("POST", rec.Body.String())
	check("GET", p.do(t, "GET", "/Users/"+id, "").Body.String())
	rec = p.do(t, "PUT", "/Users/"+id, `{`+userSchemas+`,"userName":"empty","roles":[],"emails":[{"value":"e@x"}],"name":{"givenName":null}}`)
	check("PUT", rec.Body.String())
	rec = p.do(t, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"roles","value":[]},{"op":"replace","path":"name","value":{}}]}`)
	check("PATCH", rec.Body.String())
	check("list", strings.TrimSuffix(strings.SplitN(p.do(t, "GET", "/Users?filter=userName%20eq%20%22empty%22", "").Body.String(), `"Resources":[`, 2)[1], "]}"))
}
