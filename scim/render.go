package scim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	"github.com/scim2/filter-parser/v2"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// etag is a resource's entity tag: weak, since the representation is re-rendered on every read.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// parseETag reads an If-Match or If-None-Match value; "*" and foreign tags give 0.
func parseETag(tag string) int64 {
	tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
	v, err := strconv.ParseInt(strings.Trim(tag, `"`), 10, 64)
	if err != nil || v < 1 {
		return 0
	}
	return v
}

// renderer renders resources of one kind at one base URL.
type renderer struct {
	kind    *resourceKind
	baseURL string // ends in /scim/v2
}

func (r renderer) location(k *resourceKind, id string) string {
	return r.baseURL + k.endpoint + "/" + id
}

// refs is the attribute the store derives rather than stores, in SCIM form: a user's groups
// or a group's members.
func (r renderer) refs(res governance.Resource) (string, []refJSON) {
	if r.kind.derivedAttr != "" {
		groups := make([]refJSON, 0, len(res.MemberOf))
		for _, g := range res.MemberOf {
			groups = append(groups, refJSON{Value: g.ID, Display: g.Display, Type: "direct", Ref: r.location(groupKind, g.ID)})
		}
		return r.kind.derivedAttr, groups
	}
	members := make([]refJSON, 0, len(res.Members))
	for _, m := range res.Members {
		k, typ := userKind, "User"
		if m.Kind == governance.KindGroup {
			k, typ = groupKind, "Group"
		}
		members = append(members, refJSON{Value: m.ID, Display: m.Display, Type: typ, Ref: r.location(k, m.ID)})
	}
	return r.kind.membersAttr, members
}

// attributes decodes the stored document and adds the derived attribute: what the library needs
// to render a single resource.
func (r renderer) attributes(res governance.Resource) (map[string]any, error) {
	attrs := map[string]any{}
	if err := json.Unmarshal(res.Document, &attrs); err != nil {
		return nil, err
	}
	name, refs := r.refs(res)
	if len(refs) > 0 {
		values := make([]any, len(refs))
		for i, ref := range refs {
			values[i] = map[string]any{"value": ref.Value, "display": ref.Display, "type": ref.Type, "$ref": ref.Ref}
		}
		attrs[name] = values
	}
	return attrs, nil
}

// resource is the library's form of a stored resource.
func (r renderer) resource(res governance.Resource, attrs map[string]any) scim.Resource {
	created, modified := res.Created, res.Modified
	return scim.Resource{
		ID: res.ID, Attributes: attrs,
		Meta: scim.Meta{Created: &created, LastModified: &modified, Version: etag(res.Version)},
	}
}

// view is the full representation as a map: what filters evaluate and projections cut.
func (r renderer) view(res governance.Resource, attrs map[string]any) map[string]any {
	v := make(map[string]any, len(attrs)+3)
	for k, x := range attrs {
		v[k] = x
	}
	v["id"] = res.ID
	v["schemas"] = r.kind.schemaIDs()
	v["meta"] = r.meta(res, time.RFC3339Nano)
	return v
}

func (r renderer) meta(res governance.Resource, layout string) map[string]any {
	return map[string]any{
		"resourceType": r.kind.name,
		"created":      res.Created.Format(layout),
		"lastModified": res.Modified.Format(layout),
		"location":     r.location(r.kind, res.ID),
		"version":      etag(res.Version),
	}
}

// refJSON is one element of a user's groups or a group's members.
type refJSON struct {
	Value   string `json:"value"`
	Display string `json:"display"`
	Type    string `json:"type"`
	Ref     string `json:"$ref"`
}

// appendJSON renders a resource as the library renders a single one, without decoding the
// stored document: the generated members come first, then the document's own. It writes the
// generated part by hand: lists render a hundred resources per page, and encoding/json spent
// most of a page's rendering time on these few fields.
func (r renderer) appendJSON(buf *bytes.Buffer, res governance.Resource) error {
	buf.WriteString(`{"id":`)
	appendString(buf, res.ID)
	buf.WriteString(`,"schemas":`)
	buf.Write(r.kind.schemasJSON)
	buf.WriteString(`,"meta":{"resourceType":"`)
	buf.WriteString(r.kind.name)
	buf.WriteString(`","created":"`)
	buf.WriteString(res.Created.Format(timeLayout))
	buf.WriteString(`","lastModified":"`)
	buf.WriteString(res.Modified.Format(timeLayout))
	buf.WriteString(`","location":`)
	appendString(buf, r.location(r.kind, res.ID))
	buf.WriteString(`,"version":`)
	appendString(buf, etag(res.Version))
	buf.WriteByte('}')
	if name, refs := r.refs(res); len(refs) > 0 {
		buf.WriteString(`,"` + name + `":`)
		b, err := json.Marshal(refs)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	doc := bytes.TrimSpace(res.Document)
	if len(doc) > 2 { // not "{}"
		buf.WriteByte(',')
		buf.Write(doc[1 : len(doc)-1])
	}
	buf.WriteByte('}')
	return nil
}

// appendString writes s as a JSON string.
func appendString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case c < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte("0123456789abcdef"[c>>4])
			buf.WriteByte("0123456789abcdef"[c&0xf])
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
}

// projection implements the attributes and excludedAttributes query parameters.
type projection struct {
	include, exclude []attrRef
}

// attrRef names an attribute, or one sub-attribute, possibly inside an extension.
type attrRef struct {
	container string // extension URN, or "" for core
	name      string // "" means the whole container
	sub       string
}

func (r renderer) parseProjection(attributes, excluded string) projection {
	return projection{include: r.attrRefs(attributes), exclude: r.attrRefs(excluded)}
}

// attrRefs resolves a comma-separated attribute list; names the schema does not know are
// ignored, as a client asking for an attribute a server lacks simply does not get it.
func (r renderer) attrRefs(list string) []attrRef {
	var refs []attrRef
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if ext, ok := r.kind.extension(raw); ok {
			refs = append(refs, attrRef{container: ext.ID})
			continue
		}
		p, err := filter.ParseAttrPath([]byte(raw))
		if err != nil {
			continue
		}
		attrs, container := r.kind.attrs, ""
		if p.URIPrefix != nil {
			ext, ok := r.kind.extension(*p.URIPrefix)
			if !ok {
				continue
			}
			attrs, container = ext.Attributes, ext.ID
		}
		attr, ok := findAttr(attrs, p.AttributeName)
		if !ok {
			continue
		}
		ref := attrRef{container: container, name: attr.Name()}
		if p.SubAttribute != nil {
			sub, ok := findAttr(attr.SubAttributes(), *p.SubAttribute)
			if !ok {
				continue
			}
			ref.sub = sub.Name()
		}
		refs = append(refs, ref)
	}
	return refs
}

func (p projection) empty() bool { return len(p.include) == 0 && len(p.exclude) == 0 }

// keeps reports whether any part of a core attribute survives the projection.
func (p projection) keeps(attr string) bool {
	if len(p.include) > 0 && !slices.ContainsFunc(p.include, func(r attrRef) bool { return r.container == "" && r.name == attr }) {
		return false
	}
	return !slices.ContainsFunc(p.exclude, func(r attrRef) bool { return r.container == "" && r.name == attr && r.sub == "" })
}

// alwaysReturned are never cut: RFC 7643 marks id and schemas "returned: always", and meta is
// what ETags and locations hang on.
var alwaysReturned = map[string]bool{"id": true, "schemas": true, "meta": true}

// apply cuts a view down to what the client asked for.
func (p projection) apply(v map[string]any) map[string]any {
	if len(p.include) > 0 {
		out := map[string]any{}
		for k := range alwaysReturned {
			if x, ok := v[k]; ok {
				out[k] = x
			}
		}
		for _, ref := range p.include {
			copyRef(out, v, ref)
		}
		v = out
	}
	for _, ref := range p.exclude {
		if ref.container == "" && alwaysReturned[ref.name] {
			continue
		}
		removeRef(v, ref)
	}
	return v
}

func copyRef(dst, src map[string]any, ref attrRef) {
	if ref.container != "" {
		s, ok := src[ref.container].(map[string]any)
		if !ok {
			return
		}
		if ref.name == "" {
			dst[ref.container] = s
			return
		}
		d, _ := dst[ref.container].(map[string]any)
		if d == nil {
			d = map[string]any{}
			dst[ref.container] = d
		}
		copyRef(d, s, attrRef{name: ref.name, sub: ref.sub})
		return
	}
	x, ok := src[ref.name]
	if !ok {
		return
	}
	if ref.sub == "" {
		dst[ref.name] = x
		return
	}
	switch val := x.(type) {
	case map[string]any:
		d, _ := dst[ref.name].(map[string]any)
		if d == nil {
			d = map[string]any{}
			dst[ref.name] = d
		}
		if s, ok := val[ref.sub]; ok {
			d[ref.sub] = s
		}
	case []any:
		// Several sub-attributes of one multi-valued attribute may be asked for; merge them by
		// position into the elements already copied.
		d, _ := dst[ref.name].([]any)
		if d == nil {
			d = make([]any, len(val))
			for i := range d {
				d[i] = map[string]any{}
			}
			dst[ref.name] = d
		}
		for i, el := range val {
			if m, ok := el.(map[string]any); ok {
				if s, ok := m[ref.sub]; ok {
					d[i].(map[string]any)[ref.sub] = s
				}
			}
		}
	}
}

func removeRef(v map[string]any, ref attrRef) {
	if ref.container != "" {
		if ref.name == "" {
			delete(v, ref.container)
			return
		}
		if c, ok := v[ref.container].(map[string]any); ok {
			removeRef(c, attrRef{name: ref.name, sub: ref.sub})
		}
		return
	}
	if ref.sub == "" {
		delete(v, ref.name)
		return
	}
	switch val := v[ref.name].(type) {
	case map[string]any:
		delete(val, ref.sub)
	case []any:
		for _, el := range val {
			if m, ok := el.(map[string]any); ok {
				delete(m, ref.sub)
			}
		}
	}
}

// timeLayout is how meta times are rendered: the library renders single resources this way, and
// lists must agree with them.
const timeLayout = time.RFC3339
