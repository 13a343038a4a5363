package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// The library validates POST, PUT and PATCH bodies before a handler runs, and refuses with
// one fixed sentence per kind of error ("A required value was missing, or the value specified
// was not compatible with the operation or attribute type, or resource schema."), which leaves
// an IdP's administrator guessing which of fifty attributes is wrong. When it refuses, the
// body is examined again here to name the attribute at fault and what it must be.

// libraryDetails are the library's fixed sentences: an answer carrying one is explained.
var libraryDetails = []string{
	scimerrors.ScimErrorInvalidValue.Detail, scimerrors.ScimErrorInvalidSyntax.Detail, scimerrors.ScimErrorInvalidPath.Detail,
	scimerrors.ScimErrorMutability.Detail, scimerrors.ScimErrorNoTarget.Detail,
}

// heldRefusal passes everything through except a 400, which it keeps for explain to replace.
type heldRefusal struct {
	http.ResponseWriter
	refused bool
	body    bytes.Buffer
}

func (w *heldRefusal) WriteHeader(code int) {
	if code == http.StatusBadRequest {
		w.refused = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *heldRefusal) Write(b []byte) (int, error) {
	if w.refused {
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// serveExplained lets the library serve a write, and replaces the detail of a refusal it
// answered in its own words by one naming the attribute at fault.
func (s *Server) serveExplained(w http.ResponseWriter, r *http.Request, k *resourceKind, body []byte) {
	held := &heldRefusal{ResponseWriter: w}
	s.lib.ServeHTTP(held, r)
	if !held.refused {
		return
	}
	var got scimerrors.ScimError
	if json.Unmarshal(held.body.Bytes(), &got) == nil && slices.Contains(libraryDetails, got.Detail) {
		explain := k.explainResource
		if r.Method == http.MethodPatch {
			explain = k.explainPatch
		}
		if e := explain(body); e != nil {
			writeError(w, *e)
			return
		}
	}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(held.body.Bytes())
}

func refusal(scimType scimerrors.ScimType, format string, args ...any) *scimerrors.ScimError {
	return &scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// decodeBody reads a body as the library does (numbers kept as written).
func decodeBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(v)
}

// explainResource names what is wrong with a POST or PUT body, or nil when it finds nothing.
func (k *resourceKind) explainResource(body []byte) *scimerrors.ScimError {
	var doc map[string]any
	if err := decodeBody(body, &doc); err != nil {
		return refusal(scimerrors.ScimTypeInvalidSyntax, "The body is not a JSON object (%s).", syntaxDetail(err))
	}
	schemas, _ := doc["schemas"].([]any)
	if !slices.Contains(schemas, any(k.core.ID)) {
		return refusal(scimerrors.ScimTypeInvalidSyntax, "schemas must list %q.", k.core.ID)
	}
	return k.explainDocument(doc)
}

// explainDocument names what is wrong with a whole resource: its core attributes, then those of
// its extensions.
func (k *resourceKind) explainDocument(doc map[string]any) *scimerrors.ScimError {
	core := append(append(schema.Attributes{}, k.core.Attributes...), externalIDAttr())
	if e := explainAttributes(core, "", doc); e != nil {
		return e
	}
	for _, ext := range k.extensions {
		v, ok := doc[ext.ID]
		if !ok || v == nil {
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return refusal(scimerrors.ScimTypeInvalidValue, "%s must be an object holding that extension's attributes.", ext.ID)
		}
		if e := explainAttributes(ext.Attributes, ext.ID+":", obj); e != nil {
			return e
		}
	}
	return nil
}

// explainAttributes checks each attribute of a schema (or each sub-attribute of a complex
// value) in obj, whose keys match attribute names case-insensitively.
func explainAttributes(attrs schema.Attributes, prefix string, obj map[string]any) *scimerrors.ScimError {
	for _, a := range attrs {
		var hit any
		found := false
		for key, v := range obj {
			if strings.EqualFold(key, a.Name()) {
				if found {
					return refusal(scimerrors.ScimTypeInvalidSyntax, "%s%s appears twice (attribute names are case-insensitive).", prefix, a.Name())
				}
				hit, found = v, true
			}
		}
		if e := explainAttribute(a, prefix+a.Name(), hit); e != nil {
			return e
		}
	}
	return nil
}

// explainAttribute checks one attribute's value, as the library's schema validation does.
func explainAttribute(a schema.CoreAttribute, name string, v any) *scimerrors.ScimError {
	if a.Mutability() == "readOnly" {
		return nil // ignored, as the library ignores it
	}
	if v == nil {
		if a.Required() {
			return refusal(scimerrors.ScimTypeInvalidValue, "%s is required.", name)
		}
		return nil
	}
	if !a.MultiValued() {
		return explainValue(a, name, v)
	}
	switch x := v.(type) {
	case []any:
		if a.Required() && len(x) == 0 {
			return refusal(scimerrors.ScimTypeInvalidValue, "%s is required: give it at least one value.", name)
		}
		for i, el := range x {
			if e := explainValue(a, fmt.Sprintf("%s[%d]", name, i), el); e != nil {
				return e
			}
		}
		return nil
	case map[string]any:
		// The library takes a lone object for a list of one.
		return explainValue(a, name, x)
	}
	return refusal(scimerrors.ScimTypeInvalidSyntax, "%s must be a list of %s.", name, plural(a))
}

// explainValue checks one value of an attribute (an element, for a multi-valued one).
func explainValue(a schema.CoreAttribute, name string, v any) *scimerrors.ScimError {
	if a.AttributeType() == "complex" {
		obj, ok := v.(map[string]any)
		if !ok {
			return refusal(scimerrors.ScimTypeInvalidValue, "%s must be an object with %s.", name, subNames(a))
		}
		return explainAttributes(a.SubAttributes(), name+".", obj)
	}
	if _, err := a.ValidateSingular(v); err != nil {
		return refusal(err.ScimType, "%s must be %s.", name, singular(a))
	}
	return nil
}

// singular says what one value of an attribute must be.
func singular(a schema.CoreAttribute) string {
	switch a.AttributeType() {
	case "boolean":
		return "true or false"
	case "integer":
		return "a whole number"
	case "decimal":
		return "a number"
	case "dateTime":
		return `a date and time such as "2026-01-02T15:04:05Z"`
	case "binary":
		return "base64-encoded text"
	case "reference":
		return "a URI, as a string"
	case "complex":
		return "an object with " + subNames(a)
	}
	return "a string"
}

func plural(a schema.CoreAttribute) string {
	if a.AttributeType() == "complex" {
		return "objects with " + subNames(a)
	}
	return "values that are each " + singular(a)
}

func subNames(a schema.CoreAttribute) string {
	var names []string
	for _, s := range a.SubAttributes() {
		if s.Mutability() != "readOnly" {
			names = append(names, s.Name())
		}
	}
	return strings.Join(names, ", ")
}

// syntaxDetail is what encoding/json says about bad JSON, without the Go types it names when
// the JSON is fine but not an object.
func syntaxDetail(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s, at byte %d", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		return "it is " + typ.Value
	}
	return "it ends before its JSON does"
}

// explainPatch names what is wrong with a PATCH request, or nil when it finds nothing.
func (k *resourceKind) explainPatch(body []byte) *scimerrors.ScimError {
	var req struct {
		Schemas    []string
		Operations []map[string]any
	}
	if err := decodeBody(body, &req); err != nil {
		return refusal(scimerrors.ScimTypeInvalidSyntax, "The body is not a PatchOp request (%s).", syntaxDetail(err))
	}
	if len(req.Schemas) != 1 || req.Schemas[0] != patchOpID {
		return refusal(scimerrors.ScimTypeInvalidValue, "schemas must be [%q].", patchOpID)
	}
	if len(req.Operations) == 0 {
		return refusal(scimerrors.ScimTypeInvalidValue, "Operations must hold at least one operation.")
	}
	for i, o := range req.Operations {
		if e := k.explainOperation(fmt.Sprintf("Operations[%d]", i), o); e != nil {
			return e
		}
	}
	return nil
}

const patchOpID = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

func (k *resourceKind) explainOperation(at string, o map[string]any) *scimerrors.ScimError {
	op, _ := lookupFold(o, "op").(string)
	rawPath, hasPath := lookupFold(o, "path").(string)
	value := lookupFold(o, "value")
	op = strings.ToLower(op)
	switch {
	case op != "add" && op != "remove" && op != "replace":
		return refusal(scimerrors.ScimTypeInvalidValue, "%s.op must be add, remove or replace.", at)
	case op == "remove" && (!hasPath || rawPath == ""):
		return refusal(scimerrors.ScimTypeNoTarget, "%s: remove needs a path naming what to remove.", at)
	case op != "remove" && value == nil:
		return refusal(scimerrors.ScimTypeInvalidValue, "%s: %s needs a value.", at, op)
	case !hasPath || rawPath == "":
		obj, ok := value.(map[string]any)
		if !ok {
			return refusal(scimerrors.ScimTypeInvalidValue, "%s.value must be an object of attributes when there is no path.", at)
		}
		for key, v := range obj {
			if ext, ok := k.extension(key); ok {
				inner, ok := v.(map[string]any)
				if !ok {
					return refusal(scimerrors.ScimTypeInvalidValue, "%s.value.%s must be an object holding that extension's attributes.", at, ext.ID)
				}
				for sub, sv := range inner {
					if e := k.explainTarget(at, ext.ID+":"+sub, op, sv); e != nil {
						return e
					}
				}
				continue
			}
			if e := k.explainTarget(at, key, op, v); e != nil {
				return e
			}
		}
		return nil
	}
	return k.explainTarget(at, rawPath, op, value)
}

// explainTarget checks one path of an operation and the value written to it.
func (k *resourceKind) explainTarget(at, rawPath, op string, value any) *scimerrors.ScimError {
	p, err := filter.ParsePath([]byte(rawPath))
	if err != nil {
		return refusal(scimerrors.ScimTypeInvalidPath, "%s: %q is not an attribute path.", at, rawPath)
	}
	attrs, prefix := append(append(schema.Attributes{}, k.core.Attributes...), externalIDAttr()), ""
	if p.AttributePath.URIPrefix != nil {
		if ext, ok := k.extension(*p.AttributePath.URIPrefix); ok {
			attrs, prefix = ext.Attributes, ext.ID+":"
		} else if !strings.EqualFold(*p.AttributePath.URIPrefix, k.core.ID) {
			return refusal(scimerrors.ScimTypeInvalidPath, "%s: %q names a schema %s resources do not have.", at, rawPath, k.name)
		}
	}
	a, ok := findAttr(attrs, p.AttributePath.AttributeName)
	if !ok {
		if _, common := findAttr(k.attrs, p.AttributePath.AttributeName); !common || p.AttributePath.URIPrefix != nil {
			return refusal(scimerrors.ScimTypeInvalidPath, "%s: %s has no attribute %q.", at, k.name, p.AttributePath.AttributeName)
		}
		a, _ = findAttr(k.attrs, p.AttributePath.AttributeName)
	}
	name := prefix + a.Name()
	switch {
	case a.Mutability() == "readOnly":
		return refusal(scimerrors.ScimTypeMutability, "%s: %s is read-only.", at, name)
	case a.Required() && op != "remove" && unassigned(value):
		return refusal(scimerrors.ScimTypeMutability, "%s: %s is required: a PATCH cannot remove it or leave it empty.", at, name)
	}
	sub := p.SubAttributeName()
	if sub != "" {
		s, ok := findAttr(a.SubAttributes(), sub)
		if !ok {
			return refusal(scimerrors.ScimTypeInvalidPath, "%s: %s has no sub-attribute %q.", at, name, sub)
		}
		a, name = s, name+"."+s.Name()
	}
	if op == "remove" {
		return nil
	}
	var e *scimerrors.ScimError
	if _, list := value.([]any); a.MultiValued() && (!list || p.ValueExpression != nil) && sub == "" {
		e = explainValue(a, name, value) // one element of a multi-valued attribute
	} else {
		e = explainAttribute(a, name, value)
	}
	if e != nil {
		e.Detail = at + ": " + e.Detail
	}
	return e
}
