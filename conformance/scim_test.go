package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDiscoveryTellsTheTruth(t *testing.T) {
	spc := gw.call(t, "GET", "/ServiceProviderConfig", nil).want(t, 200).body
	for path, want := range map[string]any{
		"patch.supported": true, "filter.supported": true, "filter.maxResults": 200.0, "etag.supported": true,
		"bulk.supported": false, "sort.supported": false, "changePassword.supported": false,
		"authenticationSchemes.0.type": "oauthbearertoken",
	} {
		if got := get(spc, path); got != want {
			t.Errorf("ServiceProviderConfig %s = %v, want %v", path, got, want)
		}
	}
	rts := gw.call(t, "GET", "/ResourceTypes", nil).want(t, 200).body
	if n := get(rts, "totalResults"); n != 2.0 {
		t.Fatalf("resource types: %v", n)
	}
	user := gw.call(t, "GET", "/ResourceTypes/User", nil).want(t, 200).body
	if get(user, "schemaExtensions.0.schema") != "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" {
		t.Errorf("User resource type lacks the enterprise extension: %v", user)
	}
	gw.call(t, "GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", nil).want(t, 200)
	gw.call(t, "GET", "/Schemas/urn:example:nothing", nil).wantError(t, 404, "")
}

func TestAuthentication(t *testing.T) {
	for name, header := range map[string]string{
		"missing": "", "wrong token": "Bearer not-the-token-at-all", "basic": "Basic b2t0YTpva3Rh",
		"token prefix": "Bearer " + entraToken[:10], "token with suffix": "Bearer " + entraToken + "x",
	} {
		t.Run(name, func(t *testing.T) {
			r := gw.call(t, "GET", "/Users", nil, "Authorization", header)
			r.wantError(t, 401, "")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// Both configured clients, each with its own token; the scheme is case-insensitive.
	gw.call(t, "GET", "/Users?count=1", nil, "Authorization", "Bearer "+oktaToken).want(t, 200)
	gw.call(t, "GET", "/Users?count=1", nil, "Authorization", "bearer "+entraToken).want(t, 200)
	// Operational endpoints need no token; SCIM discovery does.
	gw.call(t, "GET", gw.base+"/healthz", nil, "Authorization", "").want(t, 200)
	gw.call(t, "GET", "/ServiceProviderConfig", nil, "Authorization", "").wantError(t, 401, "")
}

func TestUserLifecycle(t *testing.T) {
	name := unique("lifecycle")
	body := newUser(name)
	body["password"] = "s3cr3t-Passw0rd"
	body["id"] = "client-chosen-id"
	body["meta"] = map[string]any{"version": `W/"99"`}
	body["groups"] = []any{map[string]any{"value": "some-group"}}
	created := gw.call(t, "POST", "/Users", body).want(t, 201)
	id := str(created.body["id"])
	if id == "" || id == "client-chosen-id" {
		t.Fatalf("id %q: readOnly id must be assigned by the server", id)
	}
	if created.header.Get("Location") != gw.base+"/scim/v2/Users/"+id || created.header.Get("Etag") != `W/"1"` {
		t.Fatalf("Location %q Etag %q", created.header.Get("Location"), created.header.Get("Etag"))
	}
	if strings.Contains(string(created.raw), "s3cr3t") || created.body["password"] != nil {
		t.Fatal("password returned on create")
	}
	if g, _ := created.body["groups"].([]any); len(g) != 0 {
		t.Fatalf("readOnly groups taken from input: %v", g)
	}

	got := gw.call(t, "GET", "/Users/"+id, nil).want(t, 200)
	if get(got.body, "meta.version") != `W/"1"` || get(got.body, "meta.resourceType") != "User" || got.body["password"] != nil {
		t.Fatalf("get: %s", got.raw)
	}
	list := gw.call(t, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil).want(t, 200)
	if strings.Contains(string(list.raw), "s3cr3t") {
		t.Fatal("password returned in a list")
	}

	// Uniqueness is case-insensitive; a refused create stores nothing.
	gw.call(t, "POST", "/Users", newUser(strings.ToUpper(name))).wantError(t, 409, "uniqueness")
	dup := gw.call(t, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil).want(t, 200)
	if get(dup.body, "totalResults") != 1.0 {
		t.Fatalf("after a refused duplicate: %s", dup.raw)
	}

	// PUT replaces the whole resource.
	replaced := newUser(name)
	replaced["displayName"] = "Replaced"
	delete(replaced, "name")
	put := gw.call(t, "PUT", "/Users/"+id, replaced).want(t, 200)
	if put.body["displayName"] != "Replaced" || put.body["name"] != nil || get(put.body, "meta.version") != `W/"2"` {
		t.Fatalf("put: %s", put.raw)
	}

	gw.call(t, "DELETE", "/Users/"+id, nil).want(t, 204)
	gw.call(t, "GET", "/Users/"+id, nil).wantError(t, 404, "")
	gw.call(t, "DELETE", "/Users/"+id, nil).wantError(t, 404, "")
	gw.call(t, "PUT", "/Users/"+id, replaced).wantError(t, 404, "")
	gw.call(t, "PATCH", "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})).wantError(t, 404, "")
}

func TestEnterpriseExtension(t *testing.T) {
	manager := gw.createUser(t, unique("manager"))
	body := newUser(unique("employee"))
	body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{
		"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
		"division": "Theme Park", "department": "Tour Operations",
		"manager": map[string]any{"value": manager["id"], "displayName": "ignored: readOnly"},
	}
	created := gw.call(t, "POST", "/Users", body).want(t, 201).body
	ext := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for attr, want := range map[string]any{"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
		"division": "Theme Park", "department": "Tour Operations", "manager.value": manager["id"]} {
		if got := get(created[ext], attr); got != want {
			t.Errorf("%s = %v, want %v", attr, got, want)
		}
	}
	found := gw.call(t, "GET", "/Users?filter="+url.QueryEscape(ext+`:department eq "tour operations" and `+ext+`:manager.value eq "`+str(manager["id"])+`"`), nil).want(t, 200)
	if get(found.body, "totalResults") != 1.0 {
		t.Fatalf("filter on extension attributes: %s", found.raw)
	}
}

func TestGroupsAndMemberships(t *testing.T) {
	a, b := gw.createUser(t, unique("member-a")), gw.createUser(t, unique("member-b"))
	name := unique("Group")
	g := gw.createGroup(t, name, str(a["id"]), str(b["id"]))
	gid := str(g["id"])
	if members, _ := g["members"].([]any); len(members) != 2 {
		t.Fatalf("members on create: %v", g["members"])
	}
	gw.call(t, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": strings.ToLower(name)}).wantError(t, 409, "uniqueness")
	gw.call(t, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": unique("ghosts"), "members": []any{map[string]any{"value": "no-such-user"}}}).wantError(t, 400, "invalidValue")

	// An id shaped to name another key (a user's record is "<id>:doc" in Redis) names nothing.
	gw.call(t, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members",
		"value": []any{map[string]any{"value": str(a["id"]) + ":doc"}}})).wantError(t, 400, "invalidValue")
	gw.call(t, "GET", "/Users/"+str(a["id"])+":doc", nil).wantError(t, 404, "")
	userA := gw.call(t, "GET", "/Users/"+str(a["id"]), nil).want(t, 200).body
	if get(userA, "groups.0.value") != gid || get(userA, "groups.0.display") != name {
		t.Fatalf("User.groups does not reflect the membership: %v", userA["groups"])
	}
	byMember := gw.call(t, "GET", "/Users?filter="+url.QueryEscape(`groups.value eq "`+gid+`"`), nil).want(t, 200)
	if get(byMember.body, "totalResults") != 2.0 {
		t.Fatalf("filter by group membership: %s", byMember.raw)
	}

	gw.call(t, "DELETE", "/Users/"+str(a["id"]), nil).want(t, 204)
	after := gw.call(t, "GET", "/Groups/"+gid, nil).want(t, 200).body
	if members, _ := after["members"].([]any); len(members) != 1 || get(after, "members.0.value") != b["id"] {
		t.Fatalf("deleting a user must remove it from its groups: %v", after["members"])
	}
	displays := gw.call(t, "GET", "/Groups?attributes=members.display&filter="+url.QueryEscape(`displayName eq "`+name+`"`), nil).want(t, 200).body
	if get(displays, "Resources.0.members.0.display") != b["userName"] || get(displays, "Resources.0.members.0.value") != nil || get(displays, "Resources.0.displayName") != nil {
		t.Fatalf("attributes=members.display: %v", displays)
	}
	noMembers := gw.call(t, "GET", "/Groups/"+gid+"?excludedAttributes=members", nil).want(t, 200).body
	if noMembers["members"] != nil || noMembers["displayName"] != name {
		t.Fatalf("excludedAttributes=members: %v", noMembers)
	}
	gw.call(t, "DELETE", "/Groups/"+gid, nil).want(t, 204)
	if groups := gw.call(t, "GET", "/Users/"+str(b["id"]), nil).body["groups"]; groups != nil {
		t.Fatalf("deleted group still in User.groups: %v", groups)
	}
}

// filterFixture is a small population every filter case runs against, isolated by a tag in
// userName so other tests' users never match.
func filterFixture(t *testing.T) (tag string, ids map[string]string) {
	tag = unique("flt")
	ids = map[string]string{}
	people := []struct {
		key, given, family, email, xid string
		active                         bool
		dept                           string
	}{
		{"ada", "Ada", "Lovelace", "Ada@Math.example", "X-1", true, "Engineering"},
		{"grace", "Grace", "Hopper", "grace@navy.example", "X-2", true, "Engineering"},
		{"alan", "Alan", "Turing", "alan@math.example", "x-3", false, "Security"},
	}
	for _, p := range people {
		body := map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"userName": tag + "-" + p.key, "externalId": tag + p.xid, "active": p.active,
			"name":   map[string]any{"givenName": p.given, "familyName": p.family},
			"emails": []any{map[string]any{"value": tag + p.email, "type": "work"}, map[string]any{"value": p.key + "@home.example", "type": "home"}},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": p.dept},
		}
		ids[p.key] = str(gw.call(t, "POST", "/Users", body).want(t, 201).body["id"])
	}
	return tag, ids
}

func TestFilters(t *testing.T) {
	tag, ids := filterFixture(t)
	scope := `userName sw "` + tag + `" and `
	cases := []struct {
		filter string
		want   []string
	}{
		{`userName eq "` + strings.ToUpper(tag) + `-ADA"`, []string{"ada"}}, // caseExact=false, index lookup
		{`USERNAME eq "` + tag + `-ada"`, []string{"ada"}},                  // attribute names are case-insensitive
		{`externalId eq "` + tag + `X-1"`, []string{"ada"}},
		{`externalId eq "` + tag + `x-1"`, nil}, // externalId is caseExact
		{`id eq "` + ids["grace"] + `"`, []string{"grace"}},
		{`emails.value eq "` + tag + `ada@math.example"`, []string{"ada"}}, // multi-valued, case-insensitive
		{`emails[type eq "work"].value eq "` + tag + `grace@navy.example"`, []string{"grace"}},
		{`emails[type eq "work" and value co "math"] and ` + scope + `active eq true`, []string{"ada"}},
		{scope + `name.familyName co "o"`, []string{"ada", "grace"}},
		{scope + `name.givenName ew "N"`, []string{"alan"}},
		{scope + `emails pr`, []string{"ada", "grace", "alan"}},
		{scope + `title pr`, nil},
		{scope + `active ne true`, []string{"alan"}},
		{scope + `not (active eq true)`, []string{"alan"}},
		{scope + `(name.givenName eq "Ada" or name.givenName eq "Alan")`, []string{"ada", "alan"}},
		{scope + `name.familyName gt "Lovelace"`, []string{"alan"}},
		{scope + `name.familyName ge "Lovelace"`, []string{"ada", "alan"}},
		{scope + `name.familyName lt "Lovelace"`, []string{"grace"}},
		{scope + `name.familyName le "Hopper"`, []string{"grace"}},
		{scope + `meta.created gt "2000-01-01T00:00:00Z"`, []string{"ada", "grace", "alan"}},
		{scope + `meta.lastModified lt "2000-01-01T00:00:00Z"`, nil},
		{scope + `emails[type eq "home" and value sw "gr"]`, []string{"grace"}},
		{scope + `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "security"`, []string{"alan"}},
		{`emails[type eq "work"].value eq "no-such@example.org"`, nil},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			r := gw.call(t, "GET", "/Users?filter="+url.QueryEscape(c.filter), nil).want(t, 200)
			got := map[string]bool{}
			for _, res := range r.body["Resources"].([]any) {
				got[str(get(res, "id"))] = true
			}
			if len(got) != len(c.want) || get(r.body, "totalResults") != float64(len(c.want)) {
				t.Fatalf("got %d results (totalResults %v), want %v", len(got), r.body["totalResults"], c.want)
			}
			for _, k := range c.want {
				if !got[ids[k]] {
					t.Errorf("%s missing", k)
				}
			}
		})
	}
	for _, bad := range []string{`userName eq`, `nosuch eq "x"`, `active gt true`, `name.nosuch eq "x"`, `emailz[type eq "x"]`, `meta.created gt "yesterday"`, `userName eq "a" and`} {
		t.Run("invalid "+bad, func(t *testing.T) {
			gw.call(t, "GET", "/Users?filter="+url.QueryEscape(bad), nil).wantError(t, 400, "invalidFilter")
		})
	}
}

func TestPaginationAndProjection(t *testing.T) {
	tag := unique("page")
	for i := range 7 {
		gw.createUser(t, fmt.Sprintf("%s-%d", tag, i))
	}
	filter := "&filter=" + url.QueryEscape(`userName sw "`+tag+`"`)
	var seen []string
	for start := 1; start <= 7; start += 3 {
		r := gw.call(t, "GET", fmt.Sprintf("/Users?startIndex=%d&count=3%s", start, filter), nil).want(t, 200).body
		res := r["Resources"].([]any)
		if r["totalResults"] != 7.0 || r["itemsPerPage"] != float64(len(res)) || r["startIndex"] != float64(start) {
			t.Fatalf("page at %d: %v", start, r)
		}
		for _, x := range res {
			seen = append(seen, str(get(x, "userName")))
		}
	}
	for i, name := range seen {
		if name != fmt.Sprintf("%s-%d", tag, i) {
			t.Fatalf("order is not stable creation order: %v", seen)
		}
	}
	empty := gw.call(t, "GET", "/Users?startIndex=100"+filter, nil).want(t, 200)
	if !strings.Contains(string(empty.raw), `"Resources":[]`) || empty.body["itemsPerPage"] != 0.0 {
		t.Fatalf("past the end: %s", empty.raw)
	}
	counted := gw.call(t, "GET", "/Users?count=0"+filter, nil).want(t, 200).body
	if counted["totalResults"] != 7.0 || len(counted["Resources"].([]any)) != 0 {
		t.Fatalf("count=0: %v", counted)
	}
	capped := gw.call(t, "GET", "/Users?count=100000", nil).want(t, 200).body
	if n := len(capped["Resources"].([]any)); n > 200 {
		t.Fatalf("count not capped at maxResults: %d", n)
	}
	gw.call(t, "GET", "/Users?count=ten", nil).wantError(t, 400, "invalidValue")
	clamped := gw.call(t, "GET", "/Users?startIndex=-4&count=-1"+filter, nil).want(t, 200).body
	if clamped["startIndex"] != 1.0 || clamped["itemsPerPage"] != 0.0 {
		t.Fatalf("negative startIndex/count: %v", clamped)
	}

	proj := gw.call(t, "GET", "/Users?count=1&attributes=userName,emails.value"+filter, nil).want(t, 200).body
	first := get(proj, "Resources.0").(map[string]any)
	if first["userName"] == nil || first["id"] == nil || first["name"] != nil || get(first, "emails.0.type") != nil || get(first, "emails.0.value") == nil {
		t.Fatalf("attributes=userName,emails.value: %v", first)
	}
	excl := gw.call(t, "GET", "/Users?count=1&excludedAttributes=emails,name.familyName"+filter, nil).want(t, 200).body
	first = get(excl, "Resources.0").(map[string]any)
	if first["emails"] != nil || get(first, "name.familyName") != nil || get(first, "name.givenName") == nil || first["id"] == nil {
		t.Fatalf("excludedAttributes: %v", first)
	}
	// POST /.search is the same query in a body.
	search := gw.call(t, "POST", "/Users/.search", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter":  `userName sw "` + tag + `"`, "startIndex": 2, "count": 2, "attributes": []string{"userName"},
	}).want(t, 200).body
	if search["totalResults"] != 7.0 || get(search, "Resources.0.userName") != tag+"-1" || get(search, "Resources.0.emails") != nil {
		t.Fatalf(".search: %v", search)
	}
}

// A list element and a single GET of the same resource are the same representation.
func TestListAndGetAgree(t *testing.T) {
	u := gw.createUser(t, unique("agree"))
	g := gw.createGroup(t, unique("agree-group"), str(u["id"]))
	for _, c := range []struct{ endpoint, id, filter string }{
		{"/Users", str(u["id"]), `userName eq "` + str(u["userName"]) + `"`},
		{"/Groups", str(g["id"]), `displayName eq "` + str(g["displayName"]) + `"`},
	} {
		single := gw.call(t, "GET", c.endpoint+"/"+c.id, nil).want(t, 200).body
		list := gw.call(t, "GET", c.endpoint+"?filter="+url.QueryEscape(c.filter), nil).want(t, 200).body
		if fmt.Sprint(get(list, "Resources.0")) != fmt.Sprint(single) {
			t.Errorf("%s: list element\n%v\ndiffers from GET\n%v", c.endpoint, get(list, "Resources.0"), single)
		}
	}
}

func TestETags(t *testing.T) {
	u := gw.createUser(t, unique("etag"))
	id := str(u["id"])
	path := "/Users/" + id
	r := gw.call(t, "GET", path, nil, "If-None-Match", `W/"1"`)
	if r.status != http.StatusNotModified || len(r.raw) != 0 || r.header.Get("Etag") != `W/"1"` {
		t.Fatalf("If-None-Match current: %d %q %s", r.status, r.header.Get("Etag"), r.raw)
	}
	gw.call(t, "GET", path, nil, "If-None-Match", `W/"9", W/"1"`).want(t, 304)
	gw.call(t, "GET", path, nil, "If-None-Match", `W/"7"`).want(t, 200)

	patch := patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "New"})
	gw.call(t, "PATCH", path, patch, "If-Match", `W/"5"`).wantError(t, 412, "")
	gw.call(t, "PUT", path, newUser(str(u["userName"])), "If-Match", `"garbage"`).wantError(t, 412, "")
	gw.call(t, "DELETE", path, nil, "If-Match", `W/"9"`).wantError(t, 412, "")
	if v := get(gw.call(t, "GET", path, nil).body, "meta.version"); v != `W/"1"` {
		t.Fatalf("a refused conditional write changed the resource: %v", v)
	}
	ok := gw.call(t, "PATCH", path, patch, "If-Match", `W/"1"`).want(t, 200)
	if ok.header.Get("Etag") != `W/"2"` || get(ok.body, "meta.version") != `W/"2"` {
		t.Fatalf("ETag after patch: %q %v", ok.header.Get("Etag"), get(ok.body, "meta.version"))
	}
	gw.call(t, "DELETE", path, nil, "If-Match", `W/"2"`).want(t, 204)
}

func TestBadInputChangesNothing(t *testing.T) {
	u := gw.createUser(t, unique("bad"))
	path := "/Users/" + str(u["id"])
	before := gw.call(t, "GET", path, nil).want(t, 200).raw

	gw.call(t, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":`).wantError(t, 400, "invalidSyntax")
	gw.call(t, "POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}}).wantError(t, 400, "invalidValue")
	gw.call(t, "PUT", path, `not json`).wantError(t, 400, "invalidSyntax")
	gw.call(t, "PATCH", path, patchOp(map[string]any{"op": "replace", "path": "nosuch", "value": 1})).wantError(t, 400, "invalidPath")
	gw.call(t, "PATCH", path, patchOp(map[string]any{"op": "replace", "path": `emails[type eq`, "value": "x"})).wantError(t, 400, "invalidPath")
	// Several operations, the last one bad (it would remove a required attribute, which RFC
	// 7644 §3.5.2.2 answers "mutability"): none of them may apply.
	gw.call(t, "PATCH", path, patchOp(
		map[string]any{"op": "replace", "path": "displayName", "value": "changed"},
		map[string]any{"op": "remove", "path": "userName"},
	)).wantError(t, 400, "mutability") // RFC 7644 §3.5.2.2: a required attribute cannot be removed
	gw.call(t, "PATCH", path, patchOp(map[string]any{"op": "replace", "path": "active", "value": "maybe"})).wantError(t, 400, "invalidValue")
	gw.call(t, "PATCH", path, patchOp(map[string]any{"op": "remove"})).wantError(t, 400, "noTarget")
	gw.call(t, "PATCH", path, patchOp(map[string]any{"op": "add", "path": "groups", "value": []any{map[string]any{"value": "g"}}})).wantError(t, 400, "mutability")
	big := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + strings.Repeat("x", 300000) + `"}`
	gw.call(t, "POST", "/Users", big).wantError(t, 413, "")

	if after := gw.call(t, "GET", path, nil).want(t, 200).raw; string(after) != string(before) {
		t.Fatalf("bad input changed the user:\nbefore %s\nafter  %s", before, after)
	}
}

func TestTolerance(t *testing.T) {
	name := unique("tolerant")
	gw.createUser(t, name)
	// Lower-case endpoint names and a trailing slash before the query.
	for _, path := range []string{"/users?filter=", "/Users/?filter=", "/USERS/?filter="} {
		r := gw.call(t, "GET", path+url.QueryEscape(`userName eq "`+name+`"`), nil).want(t, 200)
		if r.body["totalResults"] != 1.0 {
			t.Fatalf("%s: %s", path, r.raw)
		}
	}
	gw.call(t, "GET", "/serviceproviderconfig", nil).want(t, 200)
	gw.call(t, "GET", "/Bulk", nil).wantError(t, 404, "")
}

func TestOperationalEndpoints(t *testing.T) {
	r := gw.call(t, "GET", gw.base+"/readyz", nil).want(t, 200)
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on responses")
	}
	echoed := gw.call(t, "GET", gw.base+"/healthz", nil, "X-Request-Id", "idp-corr-42")
	if echoed.header.Get("X-Request-Id") != "idp-corr-42" {
		t.Errorf("a plain client request id is kept: %q", echoed.header.Get("X-Request-Id"))
	}
	injected := gw.call(t, "GET", gw.base+"/healthz", nil, "X-Request-Id", "evil\"}{")
	if injected.header.Get("X-Request-Id") == "evil\"}{" {
		t.Error("a request id with markup was echoed")
	}
	gw.call(t, "GET", "/Users/"+unique("missing"), nil).want(t, 404)
	metrics := string(gw.call(t, "GET", gw.base+"/metrics", nil).want(t, 200).raw)
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="/scim/v2/Users/:id",status="404"}`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="/scim/v2/Users/:id"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
