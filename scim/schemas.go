package scim

import (
	"encoding/json"
	"strings"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/gatehouse-iam/gatehouse/governance"
)

const (
	userSchemaID       = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchemaID      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseSchemaID = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	listResponseID     = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	searchRequestID    = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
)

// resourceKind describes one SCIM resource type: its schemas and how its document maps to the
// store's keys.
type resourceKind struct {
	kind       governance.Kind
	name       string // SCIM resource type name: "User"
	endpoint   string // "/Users"
	core       schema.Schema
	extensions []schema.Schema
	// attrs are every attribute a filter or PATCH may name, core first, then the common ones
	// (id, externalId, meta) the library keeps outside the core schema.
	attrs schema.Attributes
	// uniqueAttr is the attribute whose value must be unique, case-insensitively.
	uniqueAttr string
	// membersAttr is "members" for groups: kept in the store's member set, not the document.
	membersAttr string
	// derivedAttr is "groups" for users: filled from memberships, never stored.
	derivedAttr string
	// schemasJSON is schemaIDs rendered once.
	schemasJSON []byte
}

var (
	userKind  = newKind(governance.KindUser, "User", "/Users", schema.CoreUserSchema(), "userName", "", "groups", schema.ExtensionEnterpriseUser())
	groupKind = newKind(governance.KindGroup, "Group", "/Groups", schema.CoreGroupSchema(), "displayName", "members", "")
)

func newKind(kind governance.Kind, name, endpoint string, core schema.Schema, unique, members, derived string, exts ...schema.Schema) *resourceKind {
	attrs := append(schema.Attributes{}, core.Attributes...)
	attrs = append(attrs,
		schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name: "id", CaseExact: true, Mutability: schema.AttributeMutabilityReadOnly(), Returned: schema.AttributeReturnedAlways(),
		})),
		externalIDAttr(),
		schema.ComplexCoreAttribute(schema.ComplexParams{
			Name:       "meta",
			Mutability: schema.AttributeMutabilityReadOnly(),
			SubAttributes: []schema.SimpleParams{
				schema.SimpleStringParams(schema.StringParams{Name: "resourceType", CaseExact: true}),
				schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "created"}),
				schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "lastModified"}),
				schema.SimpleReferenceParams(schema.ReferenceParams{Name: "location", ReferenceTypes: []schema.AttributeReferenceType{schema.AttributeReferenceTypeURI}}),
				schema.SimpleStringParams(schema.StringParams{Name: "version", CaseExact: true}),
			},
		}),
	)
	k := &resourceKind{
		kind: kind, name: name, endpoint: endpoint, core: core, extensions: exts, attrs: attrs,
		uniqueAttr: unique, membersAttr: members, derivedAttr: derived,
	}
	k.schemasJSON, _ = json.Marshal(k.schemaIDs())
	return k
}

func externalIDAttr() schema.CoreAttribute {
	return schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
		Name: "externalId", CaseExact: true,
		Description: optional.NewString("An identifier for the resource as defined by the provisioning client."),
	}))
}

// resourceType is the library's view of the kind.
func (k *resourceKind) resourceType(h scim.ResourceHandler) scim.ResourceType {
	rt := scim.ResourceType{
		ID: optional.NewString(k.name), Name: k.name, Endpoint: k.endpoint,
		Description: optional.NewString(k.name + " accounts declared by identity providers"),
		Schema:      k.core, Handler: h,
	}
	for _, e := range k.extensions {
		rt.SchemaExtensions = append(rt.SchemaExtensions, scim.SchemaExtension{Schema: e})
	}
	return rt
}

// schemaIDs lists the schemas every resource of the kind names, as the library renders them.
func (k *resourceKind) schemaIDs() []string {
	ids := []string{k.core.ID}
	for _, e := range k.extensions {
		ids = append(ids, e.ID)
	}
	return ids
}

// extension finds an extension schema by its URN, case-insensitively.
func (k *resourceKind) extension(urn string) (schema.Schema, bool) {
	for _, e := range k.extensions {
		if strings.EqualFold(e.ID, urn) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// attribute finds a core or common attribute by name, case-insensitively.
func findAttr(attrs schema.Attributes, name string) (schema.CoreAttribute, bool) {
	for _, a := range attrs {
		if strings.EqualFold(a.Name(), name) {
			return a, true
		}
	}
	return schema.CoreAttribute{}, false
}

// keys derives what the store indexes from a canonical document.
func (k *resourceKind) keys(doc map[string]any) governance.Keys {
	unique, _ := doc[k.uniqueAttr].(string)
	keys := governance.Keys{Unique: unique, Display: unique}
	if active, ok := doc["active"].(bool); ok && !active {
		keys.Inactive = true
	}
	if dn, ok := doc["displayName"].(string); ok && dn != "" {
		keys.Display = dn
	}
	if xid, ok := doc["externalId"].(string); ok && xid != "" {
		keys.Lookups = append(keys.Lookups, governance.Lookup{Attr: governance.LookupExternalID, Value: xid})
	}
	if ext, ok := doc[enterpriseSchemaID].(map[string]any); ok {
		if d, ok := ext["department"].(string); ok && d != "" {
			keys.Lookups = append(keys.Lookups, governance.DepartmentLookup(d))
		}
	}
	emails, _ := doc["emails"].([]any)
	for _, e := range emails {
		if m, ok := e.(map[string]any); ok {
			if v, ok := m["value"].(string); ok && v != "" {
				keys.Lookups = append(keys.Lookups, governance.EmailLookup(v))
			}
		}
	}
	return keys
}
