package scim

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// The library validates PATCH operations but leaves applying them to the handler (RFC 7644
// §3.5.2). applyPatch does that on a decoded document in which a group's members are an
// ordinary multi-valued attribute; the result is validated again as a whole by normalize.

func patchError(status int, scimType scimerrors.ScimType, format string, args ...any) scimerrors.ScimError {
	return scimerrors.ScimError{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

func (k *resourceKind) applyPatch(doc map[string]any, op scim.PatchOperation) error {
	if op.Path == nil {
		// Path-less add or replace: every key of the value is itself a path (Entra sends
		// "name.givenName" and URN-qualified keys) or an extension URN holding attributes.
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return patchError(400, scimerrors.ScimTypeInvalidValue, "a %s without a path needs an object value", op.Op)
		}
		for key, val := range obj {
			if ext, ok := k.extension(key); ok {
				inner, ok := val.(map[string]any)
				if !ok {
					return patchError(400, scimerrors.ScimTypeInvalidValue, "%s must hold an object", ext.ID)
				}
				for sub, subVal := range inner {
					if err := k.applyKey(doc, op.Op, ext.ID+":"+sub, subVal); err != nil {
						return err
					}
				}
				continue
			}
			if err := k.applyKey(doc, op.Op, key, val); err != nil {
				return err
			}
		}
		return nil
	}
	return k.applyPath(doc, op.Op, *op.Path, op.Value)
}

func (k *resourceKind) applyKey(doc map[string]any, op, key string, val any) error {
	p, err := filter.ParsePath([]byte(key))
	if err != nil {
		return patchError(400, scimerrors.ScimTypeInvalidPath, "%q is not an attribute path", key)
	}
	return k.applyPath(doc, op, p, val)
}

// patchTarget is what a PATCH path points at.
type patchTarget struct {
	parent map[string]any // the document or an extension's object
	attr   schema.CoreAttribute
	sub    string    // a sub-attribute name, or ""
	match  predicate // the value filter of a multi-valued path, or nil
	expr   filter.Expression
}

func (k *resourceKind) resolvePatchPath(doc map[string]any, p filter.Path, create bool) (patchTarget, error) {
	attrs, parent := k.core.Attributes, doc
	attrs = append(append(schema.Attributes{}, attrs...), externalIDAttr())
	if p.AttributePath.URIPrefix != nil {
		uri := *p.AttributePath.URIPrefix
		if ext, ok := k.extension(uri); ok {
			attrs = ext.Attributes
			c, _ := doc[ext.ID].(map[string]any)
			if c == nil {
				c = map[string]any{}
				if create {
					doc[ext.ID] = c
				}
			}
			parent = c
		} else if !strings.EqualFold(uri, k.core.ID) {
			return patchTarget{}, patchError(400, scimerrors.ScimTypeInvalidPath, "unknown schema %s", uri)
		}
	}
	attr, ok := findAttr(attrs, p.AttributePath.AttributeName)
	if !ok {
		return patchTarget{}, patchError(400, scimerrors.ScimTypeInvalidPath, "unknown attribute %s", p.AttributePath.AttributeName)
	}
	if attr.Mutability() == "readOnly" {
		return patchTarget{}, patchError(400, scimerrors.ScimTypeMutability, "%s is read-only", attr.Name())
	}
	t := patchTarget{parent: parent, attr: attr}
	sub := p.AttributePath.SubAttribute
	if p.SubAttribute != nil {
		sub = p.SubAttribute
	}
	if sub != nil {
		s, ok := findAttr(attr.SubAttributes(), *sub)
		if !ok {
			return patchTarget{}, patchError(400, scimerrors.ScimTypeInvalidPath, "unknown sub-attribute %s.%s", attr.Name(), *sub)
		}
		t.sub = s.Name()
	}
	if p.ValueExpression != nil {
		if !attr.MultiValued() {
			return patchTarget{}, patchError(400, scimerrors.ScimTypeInvalidPath, "%s is not multi-valued", attr.Name())
		}
		match, err := compileFilter(p.ValueExpression, scope{attrs: attr.SubAttributes()})
		if err != nil {
			return patchTarget{}, patchError(400, scimerrors.ScimTypeInvalidPath, "%v", err)
		}
		t.match, t.expr = match, p.ValueExpression
	}
	return t, nil
}

func (k *resourceKind) applyPath(doc map[string]any, op string, p filter.Path, val any) error {
	t, err := k.resolvePatchPath(doc, p, op != scim.PatchOperationRemove)
	if err != nil {
		return err
	}
	name := t.attr.Name()
	switch {
	case t.match != nil:
		return t.applyFiltered(op, val)
	case op == scim.PatchOperationRemove:
		t.remove(val)
	case t.sub != "":
		t.setSub(val)
	case t.attr.MultiValued():
		values := asList(val)
		if op == scim.PatchOperationReplace {
			t.parent[name] = values
		} else {
			t.parent[name] = appendNew(asList(t.parent[name]), values)
		}
		markPrimary(t.parent[name].([]any), values)
	case t.attr.AttributeType() == "complex":
		// RFC 7644 §3.5.2.3: sub-attributes not in the value are left as they are, for add and
		// replace alike.
		obj, ok := val.(map[string]any)
		if !ok {
			return patchError(400, scimerrors.ScimTypeInvalidValue, "%s needs an object", name)
		}
		cur, _ := t.parent[name].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		for sk, sv := range obj {
			cur[sk] = sv
		}
		t.parent[name] = cur
	default:
		t.parent[name] = val
	}
	return nil
}

// applyFiltered handles paths such as emails[type eq "work"].value and members[value eq "x"].
func (t patchTarget) applyFiltered(op string, val any) error {
	name := t.attr.Name()
	list := asList(t.parent[name])
	kept := list[:0:0]
	matched := false
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !t.match(m) {
			kept = append(kept, el)
			continue
		}
		matched = true
		switch {
		case op == scim.PatchOperationRemove && t.sub == "":
			continue
		case op == scim.PatchOperationRemove:
			delete(m, t.sub)
		case t.sub != "":
			m[t.sub] = val
		case op == scim.PatchOperationReplace:
			obj, ok := val.(map[string]any)
			if !ok {
				return patchError(400, scimerrors.ScimTypeInvalidValue, "%s elements are objects", name)
			}
			m = obj
		default:
			obj, _ := val.(map[string]any)
			for sk, sv := range obj {
				m[sk] = sv
			}
		}
		kept = append(kept, m)
	}
	if !matched && op != scim.PatchOperationRemove {
		// Entra adds emails[type eq "work"].value to a user without a work email: create the
		// element the filter describes.
		el := equalities(t.expr)
		if t.sub != "" {
			el[t.sub] = val
		} else if obj, ok := val.(map[string]any); ok {
			for sk, sv := range obj {
				el[sk] = sv
			}
		}
		kept = append(kept, el)
	}
	setList(t.parent, name, kept)
	return nil
}

func (t patchTarget) remove(val any) {
	name := t.attr.Name()
	switch {
	case t.sub != "":
		switch cur := t.parent[name].(type) {
		case map[string]any:
			delete(cur, t.sub)
		case []any:
			for _, el := range cur {
				if m, ok := el.(map[string]any); ok {
					delete(m, t.sub)
				}
			}
		}
	case t.attr.MultiValued() && val != nil:
		// Entra removes group members by listing them in the value: remove only those.
		drop := asList(val)
		kept := []any{}
		for _, el := range asList(t.parent[name]) {
			if !containsElement(drop, el) {
				kept = append(kept, el)
			}
		}
		setList(t.parent, name, kept)
	default:
		delete(t.parent, name)
	}
}

func (t patchTarget) setSub(val any) {
	name := t.attr.Name()
	if list, ok := t.parent[name].([]any); ok {
		for _, el := range list {
			if m, ok := el.(map[string]any); ok {
				m[t.sub] = val
			}
		}
		return
	}
	cur, _ := t.parent[name].(map[string]any)
	if cur == nil {
		cur = map[string]any{}
	}
	cur[t.sub] = val
	t.parent[name] = cur
}

func setList(parent map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(parent, name)
		return
	}
	parent[name] = list
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// appendNew adds the values not already present; an element with a "value" is the same as
// another with an equal "value" (a group member added twice stays one member).
func appendNew(list, values []any) []any {
	for _, v := range values {
		if !containsElement(list, v) {
			list = append(list, v)
		}
	}
	return list
}

func containsElement(list []any, v any) bool {
	key, keyed := elementValue(v)
	for _, el := range list {
		if k, ok := elementValue(el); keyed && ok && k == key {
			return true
		}
		if reflect.DeepEqual(el, v) {
			return true
		}
	}
	return false
}

func elementValue(v any) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	x, ok := m["value"]
	return x, ok && x != nil
}

// markPrimary keeps at most one primary element: the last one just written that says so.
func markPrimary(list, written []any) {
	var primary map[string]any
	for _, w := range written {
		if m, ok := w.(map[string]any); ok && m["primary"] == true {
			primary = m
		}
	}
	if primary == nil {
		return
	}
	for _, el := range list {
		if m, ok := el.(map[string]any); ok && m["primary"] == true && !reflect.DeepEqual(m, primary) {
			m["primary"] = false
		}
	}
}

// equalities collects the sub-attribute values an and-only filter pins down with eq.
func equalities(e filter.Expression) map[string]any {
	out := map[string]any{}
	var walk func(filter.Expression)
	walk = func(e filter.Expression) {
		switch e := e.(type) {
		case *filter.LogicalExpression:
			if e.Operator == filter.AND {
				walk(e.Left)
				walk(e.Right)
			}
		case *filter.AttributeExpression:
			if e.Operator == filter.EQ && e.AttributePath.SubAttribute == nil {
				out[e.AttributePath.AttributeName] = e.CompareValue
			}
		}
	}
	walk(e)
	return out
}
