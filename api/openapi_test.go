package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// reportWithItems is what GET /cycles/{id}/report answers: the report, then its items, which
// the handler streams after it rather than holding them in one value.
type reportWithItems struct {
	reviews.Report
	Items []reviews.Item `json:"items"`
}

// openAPITypes are the Go types the document's component schemas describe. Every schema must
// have its type here, and TestOpenAPISchemasAreTheGoTypes compares them property by property.
var openAPITypes = map[string]reflect.Type{
	"Problem": typeOf[Problem](), "Me": typeOf[meView](), "MeUser": typeOf[meUser](),
	"Application": typeOf[governance.Application](), "Entitlement": typeOf[governance.Entitlement](), "Policy": typeOf[governance.Policy](),
	"PolicyStage": typeOf[governance.PolicyStage](), "ApproverRule": typeOf[governance.ApproverRule](), "AutoApproval": typeOf[governance.AutoApproval](),
	"SoDRule": typeOf[governance.SoDRule](), "SoDConflict": typeOf[governance.SoDConflict](), "CatalogChange": typeOf[governance.CatalogChange](),
	"Comment": typeOf[comment](), "ConnectionTest": typeOf[connectionView](), "Import": typeOf[importView](),
	"DriftReport": typeOf[provisioning.DriftReport](), "EntitlementDrift": typeOf[provisioning.EntitlementDrift](),
	"Submit": typeOf[submitBody](), "WhatIfQuery": typeOf[whatIfBody](), "WhatIf": typeOf[whatIfView](),
	"Request": typeOf[governance.Request](), "Stage": typeOf[governance.Stage](), "RecordedDecision": typeOf[governance.Decision](),
	"Decision": typeOf[decisionBody](), "InboxItem": typeOf[governance.InboxItem](), "Situation": typeOf[governance.Situation](),
	"Grant": typeOf[governance.Grant](), "Reason": typeOf[reasonBody](), "Access": typeOf[governance.IdentityAccess](),
	"NewServiceAccount": typeOf[serviceAccountBody](), "ServiceAccount": typeOf[governance.ServiceAccount](), "NewOwner": typeOf[ownerBody](), "NewDeadline": typeOf[deadlineBody](),
	"BreakGlassRequest": typeOf[breakGlassBody](), "Activation": typeOf[activationView](), "IncidentReview": typeOf[governance.IncidentReview](),
	"IncidentReviewView": typeOf[incidentView](), "Findings": typeOf[findingsBody](), "DeadLetter": typeOf[provisioning.DeadJob](),
	"CampaignDefinition": typeOf[campaignBody](), "Campaign": typeOf[reviews.Campaign](), "CampaignScope": typeOf[reviews.CampaignScope](),
	"Cycle": typeOf[reviews.Cycle](), "CycleProgress": typeOf[cycleView](), "ReviewReport": typeOf[reportWithItems](),
	"ReviewSummary": typeOf[reviews.Summary](), "AuditHead": typeOf[governance.AuditHead](),
	"AuditCheckpointStatus": typeOf[governance.AuditStatus](), "AuditCheckpoint": typeOf[governance.Checkpoint](),
	"BreakGlassPolicy":    typeOf[governance.BreakGlassPolicy](),
	"ReviewItemInContext": typeOf[itemView](), "PreviousVerdict": typeOf[previousVerdict](), "ReviewItem": typeOf[reviews.Item](),
	"ItemStep": typeOf[reviews.ItemStep](), "Verdict": typeOf[verdictBody](), "BulkVerdict": typeOf[bulkBody](),
	"BulkResults": typeOf[bulkView](), "BulkResult": typeOf[bulkResult](), "Reassign": typeOf[reassignBody](),
	"AuditRecord": typeOf[governance.AuditRecord](), "Event": typeOf[governance.Event](),
	"Duration": typeOf[governance.Duration](), "Risk": typeOf[governance.Risk](),
	"ApplicationPage": typeOf[page[governance.Application]](), "EntitlementPage": typeOf[page[governance.Entitlement]](),
	"PolicyPage": typeOf[page[governance.Policy]](), "SoDRulePage": typeOf[page[governance.SoDRule]](),
	"CatalogChangePage": typeOf[page[governance.CatalogChange]](), "RequestPage": typeOf[page[governance.Request]](),
	"InboxPage": typeOf[page[governance.InboxItem]](), "GrantPage": typeOf[page[governance.Grant]](),
	"ServiceAccountPage": typeOf[page[governance.ServiceAccount]](), "IncidentReviewPage": typeOf[page[incidentView]](),
	"DeadLetterPage": typeOf[page[provisioning.DeadJob]](), "CampaignPage": typeOf[page[reviews.Campaign]](),
	"CyclePage": typeOf[page[reviews.Cycle]](), "ReviewItemPage": typeOf[page[itemView]](), "AuditRecordPage": typeOf[page[governance.AuditRecord]](),
}

// freeForm are the schemas that may take any object, each for its reason.
var freeForm = map[string]string{
	"OpenAPIDocument": "the OpenAPI document itself, whose schema is the OpenAPI specification's",
}

// enumValues are the values the domain lists for a type; a schema's enum must be exactly them.
var enumValues = map[reflect.Type][]string{
	typeOf[governance.GrantStatus]():         stringsOf(governance.GrantStatuses),
	typeOf[governance.ChangeState]():         stringsOf(governance.ChangeStates),
	typeOf[governance.ServiceAccountState](): stringsOf(governance.ServiceAccountStates),
	typeOf[governance.Risk]():                {"low", "medium", "high", "critical"},
	typeOf[Role]():                           {string(RoleRequester), string(RoleCatalogAdmin), string(RoleSecurityAdmin), string(RoleAuditor)},
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

func stringsOf[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// openAPIDoc is the served document, decoded loosely enough to walk.
type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string                `json:"operationId"`
	Tags        []string              `json:"tags"`
	Security    *[]map[string][]any   `json:"security"`
	RequestBody *openAPIContent       `json:"requestBody"`
	Responses   map[string]openAPIRef `json:"responses"`
}

type openAPIContent struct {
	Content map[string]struct {
		Schema map[string]any `json:"schema"`
	} `json:"content"`
}

type openAPIRef struct {
	Ref string `json:"$ref"`
	openAPIContent
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

var ginParam = regexp.MustCompile(`:([A-Za-z]+)`)

// Every route is documented and every documented operation is routed, with an operationId of
// its own, one tag, the security its route has (none only for the public document), and bodies
// and answers that name component schemas, never "any object".
func TestOpenAPIOperationsAreTheRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := map[string]route{}
	for _, r := range (&Server{}).routes() {
		routes[r.method+" "+ginParam.ReplaceAllString(r.path, "{$1}")] = r
	}
	ids := map[string]string{}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			r, routed := routes[key]
			if !routed {
				t.Errorf("openapi.json documents %s, which is not routed", key)
				continue
			}
			if op.OperationID == "" || ids[op.OperationID] != "" {
				t.Errorf("%s: operationId %q is missing or also %s's", key, op.OperationID, ids[op.OperationID])
			}
			ids[op.OperationID] = key
			if len(op.Tags) != 1 {
				t.Errorf("%s: tags %v, want one", key, op.Tags)
			}
			switch {
			case op.Security == nil:
				t.Errorf("%s: no security", key)
			case r.allow == nil && len(*op.Security) != 0:
				t.Errorf("%s is public, but the document asks for %v", key, *op.Security)
			case r.allow != nil && (len(*op.Security) != 1 || (*op.Security)[0]["bearer"] == nil):
				t.Errorf("%s needs a bearer credential, but the document asks for %v", key, *op.Security)
			}
			if op.RequestBody != nil {
				checkNamed(t, doc, key+" body", op.RequestBody.Content["application/json"].Schema)
			}
			success := false
			for status, resp := range op.Responses {
				if !strings.HasPrefix(status, "2") {
					if resp.Ref == "" {
						t.Errorf("%s %s: errors are the shared problem responses", key, status)
					}
					continue
				}
				success = true
				if c, ok := resp.Content["application/json"]; ok {
					checkNamed(t, doc, key+" "+status, c.Schema)
				}
			}
			if !success {
				t.Errorf("%s: no success answer documented", key)
			}
		}
	}
	for key := range routes {
		if !documented[key] {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
}

// checkNamed requires a body's schema to be a component (which the schema test compares with
// its Go type).
func checkNamed(t *testing.T, doc openAPIDoc, at string, s map[string]any) {
	t.Helper()
	ref, _ := s["$ref"].(string)
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	if _, ok := doc.Components.Schemas[name]; ref == "" || !ok {
		t.Errorf("%s: the schema is %v, not a component", at, s)
	}
}

// Every component schema is the Go type it names: the same JSON properties, each of the same
// JSON type (recursively, into lists, maps and other components), objects closed to other
// properties, enums the values the domain lists. A field added to a Go type, renamed or
// retyped, fails here until the document says so.
func TestOpenAPISchemasAreTheGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, s := range doc.Components.Schemas {
		if why, ok := freeForm[name]; ok {
			if s["additionalProperties"] != true || why == "" {
				t.Errorf("%s is free-form by design (%s) and must say so", name, why)
			}
			continue
		}
		typ, ok := openAPITypes[name]
		if !ok {
			t.Errorf("schema %s has no Go type in openAPITypes", name)
			continue
		}
		c := schemaCheck{doc: doc, t: t}
		c.compare(name, s, typ)
	}
	for name := range openAPITypes {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("openAPITypes names %s, which the document lacks", name)
		}
	}
}

type schemaCheck struct {
	doc openAPIDoc
	t   *testing.T
}

var (
	timeType      = typeOf[time.Time]()
	rawType       = typeOf[json.RawMessage]()
	marshalerType = typeOf[json.Marshaler]()
	textType      = typeOf[encoding.TextMarshaler]()
)

func (c schemaCheck) compare(at string, s map[string]any, t reflect.Type) {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if want := openAPITypes[name]; want != deref(t) {
			c.t.Errorf("%s refers to %s, which describes %v, not %v", at, name, want, t)
		}
		return
	}
	if all, ok := s["allOf"].([]any); ok {
		// {allOf: [{$ref}], nullable: true}: a component that may be null.
		if len(all) != 1 || s["nullable"] != true || !nullable(t) {
			c.t.Errorf("%s: allOf is only for a nullable component, and %v cannot be null", at, t)
		}
		inner, _ := all[0].(map[string]any)
		c.compare(at, inner, deref(t))
		return
	}
	if s["nullable"] == true && !nullable(t) {
		c.t.Errorf("%s is nullable, but %v never encodes as null", at, t)
	}
	typ, _ := s["type"].(string)
	want := jsonType(t)
	if typ != want {
		c.t.Errorf("%s: type %q, but %v encodes as %q", at, typ, t, want)
		return
	}
	t = deref(t)
	if vals, ok := enumValues[t]; ok || s["enum"] != nil {
		var got []string
		for _, v := range asSlice(s["enum"]) {
			got = append(got, fmt.Sprint(v))
		}
		if ok && !slices.Equal(got, vals) {
			c.t.Errorf("%s: enum %v, but the domain has %v", at, got, vals)
		}
	}
	switch want {
	case "array":
		items, _ := s["items"].(map[string]any)
		c.compare(at+"[]", items, t.Elem())
	case "object":
		if t.Kind() == reflect.Map {
			ap, ok := s["additionalProperties"].(map[string]any)
			if !ok {
				c.t.Errorf("%s: a map needs additionalProperties with the values' schema", at)
				return
			}
			c.compare(at+"{}", ap, t.Elem())
			return
		}
		if s["additionalProperties"] != false {
			c.t.Errorf("%s: additionalProperties must be false: %v has no other properties", at, t)
		}
		props, _ := s["properties"].(map[string]any)
		fields := jsonFields(t)
		var missing, extra []string
		for name, ft := range fields {
			ps, ok := props[name].(map[string]any)
			if !ok {
				missing = append(missing, name)
				continue
			}
			c.compare(at+"."+name, ps, ft)
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				extra = append(extra, name)
			}
		}
		for _, r := range asSlice(s["required"]) {
			if _, ok := fields[fmt.Sprint(r)]; !ok {
				extra = append(extra, fmt.Sprint(r)+" (required)")
			}
		}
		if len(missing)+len(extra) > 0 {
			sort.Strings(missing)
			sort.Strings(extra)
			c.t.Errorf("%s (%v): the document lacks %v and has %v, which the type does not", at, t, missing, extra)
		}
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// nullable reports whether encoding/json may write null for a value of t.
func nullable(t reflect.Type) bool {
	return t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Interface
}

// jsonType is the JSON type encoding/json writes for t ("" for any JSON value).
func jsonType(t reflect.Type) string {
	t = deref(t)
	switch {
	case t == rawType || t.Kind() == reflect.Interface:
		return ""
	case t == timeType, t.Implements(marshalerType), t.Implements(textType), reflect.PointerTo(t).Implements(textType):
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // encoding/json writes []byte as base64
		}
		return "array"
	case reflect.Array:
		return "array"
	}
	return "object"
}

// jsonFields are the properties encoding/json writes for a struct, embedded structs' included.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
		case f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct:
			for n, ft := range jsonFields(deref(f.Type)) {
				out[n] = ft
			}
		case name == "":
			out[f.Name] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

// Every field the API answers or reads is named in camelCase by its own json tag: a field
// without one would be spelt as its Go name ("ID", "Hash"), unlike every other. The walk
// starts from the types the document describes and follows their fields' types.
func TestJSONFieldsAreCamelCase(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(at string, rt reflect.Type)
	walk = func(at string, rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Array || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if seen[rt] || rt.Kind() != reflect.Struct || rt == timeType || encodesItself(rt) {
			return
		}
		seen[rt] = true
		for f := range rt.Fields() {
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case tag == "-":
				continue
			case f.Anonymous && tag == "":
				walk(at, f.Type) // its fields are the outer object's
				continue
			case tag == "":
				t.Errorf("%s.%s (%v) has no json tag: it is answered as %q", at, f.Name, rt, f.Name)
			case !camelCase.MatchString(tag):
				t.Errorf("%s.%s (%v) is named %q, not camelCase", at, f.Name, rt, tag)
			}
			walk(at+"."+f.Name, f.Type)
		}
	}
	for name, typ := range openAPITypes {
		walk(name, typ)
	}
}

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// encodesItself: a type with its own JSON or text form, whose fields are not its JSON.
func encodesItself(rt reflect.Type) bool {
	for _, i := range []reflect.Type{marshalerType, textType} {
		if rt.Implements(i) || reflect.PointerTo(rt).Implements(i) {
			return true
		}
	}
	return false
}
