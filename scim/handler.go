package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/google/uuid"
	"github.com/scim2/filter-parser/v2"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var _ scim.ResourceHandler = (*handler)(nil)

// handler serves one resource type on top of the identity store.
type handler struct {
	kind   *resourceKind
	store  governance.IdentityStore
	render renderer
	log    *zap.Logger
	// maxResults caps list pages; lists are served by the router (list.go), GetAll only
	// keeps the library's interface whole.
	maxResults int
}

// notStored are attributes a client may send that never reach the store: readOnly ones the
// library already drops, and password, which Gatehouse accepts (IdPs send it) but never
// keeps: it authenticates nobody with it, so holding even a hash would only be a liability.
var notStored = []string{"id", "meta", "schemas", "groups", "password"}

// unassigned reports whether a value is no value at all: null, an empty list, an object with
// nothing assigned. RFC 7643 §2.5 makes these the same state as an absent attribute.
func unassigned(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return !slices.ContainsFunc(x, func(el any) bool { return !unassigned(el) })
	case map[string]any:
		for _, el := range x {
			if !unassigned(el) {
				return false
			}
		}
		return true
	}
	return false
}

// assigned drops what is unassigned inside a value, so a resource never shows "roles": null
// or "name": {}: a service provider returns no attribute it has no value for.
func assigned(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, el := range x {
			if el = assigned(el); !unassigned(el) {
				out = append(out, el)
			}
		}
		return out
	case map[string]any:
		for k, el := range x {
			if el = assigned(el); unassigned(el) {
				delete(x, k)
			} else {
				x[k] = el
			}
		}
	}
	return v
}

// split turns validated attributes into the stored document and, for groups, the member IDs.
func (h *handler) split(attrs map[string]any) (governance.Write, error) {
	w := governance.Write{Kind: h.kind.kind}
	doc := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if v = assigned(v); !slices.Contains(notStored, k) && k != h.kind.membersAttr && !unassigned(v) {
			doc[k] = v
		}
	}
	if h.kind.membersAttr != "" {
		w.Members = []string{}
		seen := map[string]bool{}
		for _, m := range asList(attrs[h.kind.membersAttr]) {
			obj, _ := m.(map[string]any)
			id, ok := obj["value"].(string)
			if !ok || id == "" {
				return w, patchError(400, scimerrors.ScimTypeInvalidValue, "every member needs a value")
			}
			if !seen[id] {
				seen[id] = true
				w.Members = append(w.Members, id)
			}
		}
	}
	w.Keys = h.kind.keys(doc)
	raw, err := json.Marshal(doc)
	if err != nil {
		return w, fmt.Errorf("scim: encode document: %w", err)
	}
	w.Document = raw
	return w, nil
}

func (h *handler) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	w, err := h.split(attrs)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	w.ID = uuid.NewString()
	res, err := h.store.Create(r.Context(), w)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	return h.resource(r, res)
}

func (h *handler) Get(r *http.Request, id string) (scim.Resource, error) {
	p := h.render.parseProjection(r.URL.Query().Get("attributes"), r.URL.Query().Get("excludedAttributes"))
	res, err := h.store.Get(r.Context(), h.kind.kind, id, governance.ReadOptions{Members: h.wantsMembers(p)})
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	sr, err := h.resource(r, res)
	if err == nil && !p.empty() {
		sr.Attributes = p.apply(sr.Attributes)
	}
	return sr, err
}

// wantsMembers says whether a group read must load members: Entra looks groups up with
// excludedAttributes=members precisely so that large groups stay cheap.
func (h *handler) wantsMembers(p projection) bool {
	return h.kind.membersAttr != "" && p.keeps(h.kind.membersAttr)
}

func (h *handler) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	q := listQuery{startIndex: params.StartIndex, count: min(params.Count, h.maxResults)}
	if params.FilterValidator != nil {
		q.filter = params.FilterValidator.GetFilter()
	}
	found, err := h.query(r.Context(), q)
	if err != nil {
		return scim.Page{}, h.fail(r, err)
	}
	page := scim.Page{TotalResults: found.total, Resources: []scim.Resource{}}
	for _, res := range found.resources {
		sr, err := h.resource(r, res)
		if err != nil {
			return scim.Page{}, err
		}
		page.Resources = append(page.Resources, sr)
	}
	return page, nil
}

func (h *handler) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	w, err := h.split(attrs)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	w.ID, w.IfVersion = id, parseETag(r.Header.Get("If-Match"))
	if err := h.checkIfMatch(r, id, w.IfVersion); err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	res, err := h.store.Replace(r.Context(), w)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	return h.resource(r, res)
}

func (h *handler) Delete(r *http.Request, id string) error {
	ifVersion := parseETag(r.Header.Get("If-Match"))
	if err := h.checkIfMatch(r, id, ifVersion); err != nil {
		return h.fail(r, err)
	}
	return h.fail(r, h.store.Delete(r.Context(), h.kind.kind, id, ifVersion))
}

// checkIfMatch fails a write whose If-Match names no version of ours (a foreign or malformed
// tag): it can never match. "*" matches any existing resource.
func (h *handler) checkIfMatch(r *http.Request, id string, parsed int64) error {
	tag := r.Header.Get("If-Match")
	if tag == "" || tag == "*" || parsed != 0 {
		return nil
	}
	if _, err := h.store.Version(r.Context(), h.kind.kind, id); err != nil {
		return err
	}
	return governance.ErrVersionMismatch
}

func (h *handler) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	ifVersion := parseETag(r.Header.Get("If-Match"))
	if err := h.checkIfMatch(r, id, ifVersion); err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	var res governance.Resource
	var err error
	if ifVersion != 0 {
		// The client named the version: one attempt, and a mismatch is its 412.
		res, err = h.patchOnce(r.Context(), id, ops, ifVersion)
	} else {
		res, err = governance.RetryOnVersionMismatch(r.Context(), func() (governance.Resource, error) {
			return h.patchOnce(r.Context(), id, ops, 0)
		})
	}
	if errors.Is(err, governance.ErrVersionMismatch) && ifVersion == 0 {
		// The client set no precondition, so 412 would be wrong: it lost every race.
		return scim.Resource{}, scimerrors.ScimError{Status: http.StatusConflict,
			Detail: "The resource is being changed by others too often; retry the request."}
	}
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	if h.kind.membersAttr != "" {
		// Entra asks for 204 on group PATCH rather than a body listing every member.
		return scim.Resource{}, nil
	}
	return h.resource(r, res)
}

// patchOnce applies the operations to the current version and writes the result if it
// changed, conditional on that version. Group PATCHes that only add and remove members by
// value (what IdPs send) never read the member list: they go to the store as member changes,
// and, changing nothing else, need no version check either, since such changes commute.
func (h *handler) patchOnce(ctx context.Context, id string, ops []scim.PatchOperation, ifVersion int64) (governance.Resource, error) {
	others, changes, byValue := h.kind.memberChanges(ops)
	cur, err := h.store.Get(ctx, h.kind.kind, id, governance.ReadOptions{Members: !byValue})
	if err != nil {
		return cur, err
	}
	if ifVersion != 0 && cur.Version != ifVersion {
		return cur, governance.ErrVersionMismatch
	}
	doc := map[string]any{}
	if err := json.Unmarshal(cur.Document, &doc); err != nil {
		return cur, fmt.Errorf("scim: decode stored %s %s: %w", h.kind.kind, id, err)
	}
	curMembers := []string{}
	if h.kind.membersAttr != "" && !byValue {
		members := make([]any, 0, len(cur.Members))
		for _, m := range cur.Members {
			members = append(members, map[string]any{"value": m.ID})
			curMembers = append(curMembers, m.ID)
		}
		doc[h.kind.membersAttr] = members
	}
	for _, op := range others {
		if err := h.kind.applyPatch(doc, op); err != nil {
			return cur, err
		}
	}
	normalized, err := h.kind.normalize(doc)
	if err != nil {
		return cur, err
	}
	w, err := h.split(normalized)
	if err != nil {
		return cur, err
	}
	w.ID, w.IfVersion = id, cur.Version
	if byValue {
		w.Members, w.MemberChanges = nil, changes
		if len(others) == 0 {
			w.IfVersion = ifVersion
		}
		return h.store.Replace(ctx, w)
	}
	// Documents are written by json.Marshal of a map, which sorts keys: equal content is
	// equal bytes.
	if bytes.Equal(w.Document, cur.Document) && sameMembers(w.Members, curMembers) {
		return cur, nil // nothing changed: keep the version, so a repeated PATCH is a no-op
	}
	return h.store.Replace(ctx, w)
}

// memberChanges splits a group PATCH into member changes by value (add members [{value}],
// remove members with a value array, remove members[value eq "x"]) and everything else.
// byValue is false when any operation needs the whole member list (replace members, remove
// every member, a filter on anything but value), or for users.
func (k *resourceKind) memberChanges(ops []scim.PatchOperation) (others []scim.PatchOperation, changes []governance.MemberChange, byValue bool) {
	if k.membersAttr == "" {
		return ops, nil, false
	}
	changes = []governance.MemberChange{}
	for _, op := range ops {
		if op.Path == nil {
			if obj, ok := op.Value.(map[string]any); ok {
				if _, members := keyFold(obj, k.membersAttr); members != nil {
					return ops, nil, false
				}
			}
			others = append(others, op)
			continue
		}
		p := op.Path
		if !strings.EqualFold(p.AttributePath.AttributeName, k.membersAttr) || p.AttributePath.URIPrefix != nil {
			others = append(others, op)
			continue
		}
		if p.AttributePath.SubAttribute != nil || p.SubAttribute != nil {
			return ops, nil, false
		}
		switch {
		case op.Op == scim.PatchOperationAdd && p.ValueExpression == nil:
			ids, ok := memberValues(op.Value)
			if !ok {
				return ops, nil, false
			}
			for _, id := range ids {
				changes = append(changes, governance.MemberChange{ID: id})
			}
		case op.Op == scim.PatchOperationRemove && p.ValueExpression == nil && op.Value != nil:
			ids, ok := memberValues(op.Value)
			if !ok {
				return ops, nil, false
			}
			for _, id := range ids {
				changes = append(changes, governance.MemberChange{ID: id, Remove: true})
			}
		case op.Op == scim.PatchOperationRemove && p.ValueExpression != nil:
			e, ok := p.ValueExpression.(*filter.AttributeExpression)
			id, isString := e.CompareValue.(string)
			if !ok || e.Operator != filter.EQ || !strings.EqualFold(e.AttributePath.AttributeName, "value") ||
				e.AttributePath.SubAttribute != nil || !isString {
				return ops, nil, false
			}
			changes = append(changes, governance.MemberChange{ID: id, Remove: true})
		default:
			return ops, nil, false
		}
	}
	return others, changes, true
}

// memberValues reads [{"value": id}, ...]; false when an element has no string value.
func memberValues(v any) ([]string, bool) {
	var ids []string
	for _, el := range asList(v) {
		m, _ := el.(map[string]any)
		id, ok := m["value"].(string)
		if !ok || id == "" {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// normalize validates a patched document as a whole, as the library validates a PUT body:
// attribute names become canonical, string booleans become booleans, and a result a PUT could
// not produce is refused: a required attribute removed (RFC 7644 §3.5.2.2 names that
// "mutability"), a wrong type (named with its attribute).
func (k *resourceKind) normalize(doc map[string]any) (map[string]any, error) {
	for _, a := range k.core.Attributes {
		if _, v := keyFold(doc, a.Name()); a.Required() && unassigned(v) {
			return nil, patchError(400, scimerrors.ScimTypeMutability, "%s is required: a PATCH cannot remove it or leave it empty.", a.Name())
		}
	}
	core := schema.Schema{ID: k.core.ID, Attributes: append(append(schema.Attributes{}, k.core.Attributes...), externalIDAttr())}
	doc["schemas"] = []any{k.core.ID}
	out, scimErr := core.Validate(doc)
	if scimErr != nil {
		if e := k.explainDocument(doc); e != nil {
			return nil, *e
		}
		return nil, *scimErr
	}
	for _, ext := range k.extensions {
		v, ok := doc[ext.ID]
		if !ok || v == nil {
			continue
		}
		if m, isMap := v.(map[string]any); isMap && len(m) == 0 {
			continue
		}
		attrs, scimErr := ext.ValidateExtension(v)
		if scimErr != nil {
			if e := k.explainDocument(doc); e != nil {
				return nil, *e
			}
			return nil, *scimErr
		}
		if len(attrs) > 0 {
			out[ext.ID] = attrs
		}
	}
	return out, nil
}

func sameMembers(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// resource renders a stored resource in the library's form.
func (h *handler) resource(r *http.Request, res governance.Resource) (scim.Resource, error) {
	attrs, err := h.render.attributes(res)
	if err != nil {
		return scim.Resource{}, h.fail(r, fmt.Errorf("scim: decode stored %s %s: %w", res.Kind, res.ID, err))
	}
	return h.render.resource(res, attrs), nil
}

// fail translates domain errors into SCIM errors at the edge. Anything it does not know is
// logged and becomes a bare 500: the library would otherwise send the error text to the client.
func (h *handler) fail(r *http.Request, err error) error {
	if err == nil {
		return nil
	}
	var scimErr scimerrors.ScimError
	var unknown *governance.UnknownMemberError
	switch {
	case errors.As(err, &scimErr):
		return scimErr
	case errors.Is(err, governance.ErrNotFound):
		return scimerrors.ScimError{Status: http.StatusNotFound, Detail: "No " + h.kind.name + " has that id."}
	case errors.Is(err, governance.ErrConflict):
		return scimerrors.ScimError{Status: http.StatusConflict, ScimType: scimerrors.ScimTypeUniqueness,
			Detail: "Another " + h.kind.name + " already has this " + h.kind.uniqueAttr + "."}
	case errors.Is(err, governance.ErrVersionMismatch):
		return scimerrors.ScimError{Status: http.StatusPreconditionFailed,
			Detail: "The resource has changed: If-Match does not match its current version."}
	case errors.As(err, &unknown):
		return patchError(400, scimerrors.ScimTypeInvalidValue, "Member %q is neither a User nor a Group.", unknown.ID)
	case errors.Is(err, governance.ErrInvalidKey):
		return patchError(400, scimerrors.ScimTypeInvalidValue, "A value holds a NUL character, a name has no visible character, or a group lists itself as a member.")
	case errors.Is(err, context.Canceled):
		// The client has gone; nobody reads this answer.
		return scimerrors.ScimErrorInternal
	case errors.Is(err, governance.ErrUnavailable):
		// Redis is away: a warning, which the log quiets while every IdP call fails alike. The
		// library turns any status SCIM does not list for the method into 500, so 500 it is;
		// IdPs retry it.
		h.log.Warn("store unavailable", zap.String("request_id", requestID(r)), zap.Error(err))
		return scimerrors.ScimErrorInternal
	}
	h.log.Error("scim request failed", zap.String("request_id", requestID(r)), zap.Error(err))
	return scimerrors.ScimErrorInternal
}
