package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/scim2/filter-parser/v2"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Lists are served here rather than by the library: it parses every filter with a PEG parser
// before the handler sees it (the bulk of a lookup's CPU), reports the requested count as
// itemsPerPage, and re-encodes every stored resource through a map. Here the common lookup
// shape skips the parser, and pages are rendered from the stored JSON (docs/adr/0001).

// listQuery is one list or search request.
type listQuery struct {
	filter     filter.Expression
	startIndex int // 1-based
	count      int
	projection projection
}

type listResult struct {
	total     int
	resources []governance.Resource
}

// scanBatch is how many resources a filter that no index answers evaluates per store read:
// memory stays bounded by it, whatever the number of users.
const scanBatch = 500

func (h *handler) query(ctx context.Context, q listQuery) (listResult, error) {
	opts := governance.ReadOptions{Members: h.wantsMembers(q.projection)}
	if q.filter == nil {
		page, err := h.store.List(ctx, h.kind.kind, q.startIndex-1, q.count, opts)
		return listResult{total: page.Total, resources: page.Resources}, err
	}
	match, err := compileFilter(q.filter, topScope(h.kind))
	if err != nil {
		return listResult{}, scimerrors.ScimError{Status: 400, ScimType: scimerrors.ScimTypeInvalidFilter, Detail: err.Error()}
	}
	if h.kind.membersAttr != "" && mentions(q.filter, h.kind.membersAttr) {
		opts.Members = true
	}
	var out listResult
	keep := func(res governance.Resource) error {
		ok, err := h.matches(res, match)
		if err != nil || !ok {
			return err
		}
		out.total++
		if out.total >= q.startIndex && len(out.resources) < q.count {
			out.resources = append(out.resources, res)
		}
		return nil
	}
	if found, indexed, err := h.candidates(ctx, q.filter, opts); err != nil {
		return listResult{}, err
	} else if indexed {
		if exactlyIndexed(q.filter) {
			// The index compares as the filter does (case-insensitively where the attribute is
			// caseExact=false), so every candidate matches: no document needs decoding.
			match = func(map[string]any) bool { return true }
		}
		sort.Slice(found, func(i, j int) bool {
			if !found[i].Created.Equal(found[j].Created) {
				return found[i].Created.Before(found[j].Created)
			}
			return found[i].ID < found[j].ID
		})
		for _, res := range found {
			if err := keep(res); err != nil {
				return listResult{}, err
			}
		}
		return out, nil
	}
	for offset := 0; ; offset += scanBatch {
		page, err := h.store.List(ctx, h.kind.kind, offset, scanBatch, opts)
		if err != nil {
			return listResult{}, err
		}
		for _, res := range page.Resources {
			if err := keep(res); err != nil {
				return listResult{}, err
			}
		}
		// Resources deleted between reading the page's ids and the resources are skipped,
		// so the end is where the ordering ends, not where a page comes back short.
		if offset+scanBatch >= page.Total {
			return out, nil
		}
	}
}

// exactlyIndexed reports whether a filter is a single eq that candidates answers exactly.
func exactlyIndexed(e filter.Expression) bool {
	a, ok := e.(*filter.AttributeExpression)
	if !ok || a.Operator != filter.EQ || a.AttributePath.URIPrefix != nil {
		return false
	}
	if _, ok := a.CompareValue.(string); !ok {
		return false
	}
	name := strings.ToLower(a.AttributePath.AttributeName)
	if a.AttributePath.SubAttribute != nil {
		return name == "emails" && strings.EqualFold(*a.AttributePath.SubAttribute, "value")
	}
	return name == "username" || name == "displayname" || name == "id" || name == "externalid"
}

func (h *handler) matches(res governance.Resource, match predicate) (bool, error) {
	attrs, err := h.render.attributes(res)
	if err != nil {
		return false, err
	}
	return match(h.render.view(res, attrs)), nil
}

// candidates answers the filter's indexed part from the store: an eq on userName, id,
// externalId, emails.value or group displayName, alone or and-ed with anything. indexed is
// false when a scan is needed. Candidates are always checked against the whole filter.
func (h *handler) candidates(ctx context.Context, e filter.Expression, opts governance.ReadOptions) ([]governance.Resource, bool, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return nil, false, nil
		}
		if found, ok, err := h.candidates(ctx, e.Left, opts); ok || err != nil {
			return found, ok, err
		}
		return h.candidates(ctx, e.Right, opts)
	case *filter.ValuePath:
		if !strings.EqualFold(e.AttributePath.AttributeName, "emails") || e.AttributePath.URIPrefix != nil {
			return nil, false, nil
		}
		inner := &filter.AttributeExpression{Operator: filter.EQ}
		for k, v := range equalities(e.ValueFilter) {
			if strings.EqualFold(k, "value") {
				sub := "value"
				inner.AttributePath = filter.AttributePath{AttributeName: "emails", SubAttribute: &sub}
				inner.CompareValue = v
				return h.candidates(ctx, inner, opts)
			}
		}
	case *filter.AttributeExpression:
		value, ok := compareValue(e.CompareValue).(string)
		if e.Operator != filter.EQ || !ok {
			return nil, false, nil
		}
		_, attr, err := topScope(h.kind).resolve(e.AttributePath)
		if err != nil {
			return nil, false, nil // compileFilter has already refused it
		}
		name, sub := strings.ToLower(e.AttributePath.AttributeName), ""
		if e.AttributePath.SubAttribute != nil {
			sub = attr.Name()
		}
		if e.AttributePath.URIPrefix != nil && !strings.EqualFold(*e.AttributePath.URIPrefix, h.kind.core.ID) {
			return nil, false, nil
		}
		var found []governance.Resource
		switch {
		case sub == "" && name == strings.ToLower(h.kind.uniqueAttr):
			found, err = h.store.FindUnique(ctx, h.kind.kind, value, opts)
		case sub == "" && name == "id":
			var res governance.Resource
			res, err = h.store.Get(ctx, h.kind.kind, value, opts)
			if errors.Is(err, governance.ErrNotFound) {
				return nil, true, nil
			}
			found = []governance.Resource{res}
		case sub == "" && name == "externalid":
			found, err = h.store.FindLookup(ctx, h.kind.kind, governance.LookupExternalID, value, opts)
		case sub == "value" && name == "emails" && h.kind.kind == governance.KindUser:
			l := governance.EmailLookup(value)
			found, err = h.store.FindLookup(ctx, h.kind.kind, l.Attr, l.Value, opts)
		default:
			return nil, false, nil
		}
		return found, true, err
	}
	return nil, false, nil
}

// mentions reports whether a filter names an attribute at its top level.
func mentions(e filter.Expression, attr string) bool {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		return mentions(e.Left, attr) || mentions(e.Right, attr)
	case *filter.NotExpression:
		return mentions(e.Expression, attr)
	case *filter.ValuePath:
		return strings.EqualFold(e.AttributePath.AttributeName, attr)
	case *filter.AttributeExpression:
		return strings.EqualFold(e.AttributePath.AttributeName, attr)
	}
	return false
}

// simpleEquality is the shape nearly every IdP lookup takes: attr eq "value", with an optional
// sub-attribute and no escapes. It is parsed without the PEG parser.
var simpleEquality = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_-]*)(?:\.([A-Za-z][A-Za-z0-9_-]*))? (?i:eq) "([^"\\]*)"$`)

// entraValuePathCompare is Entra's emails[type eq "work"].value eq "x", which RFC 7644's
// grammar does not allow (and the parser refuses); it means emails[type eq "work" and value eq "x"].
var entraValuePathCompare = regexp.MustCompile(`([A-Za-z][\w:.-]*)\[([^\]]+)\]\.([A-Za-z][\w-]*)\s+((?i:eq|ne|co|sw|ew|gt|ge|lt|le)\s+(?:"(?:[^"\\]|\\.)*"|[^\s()\]]+)|(?i:pr))`)

var orWord = regexp.MustCompile(`(?i)\sor\s`)

// parseFilter parses a filter string, rewriting Entra's value-path comparison first.
func parseFilter(raw string) (filter.Expression, error) {
	raw = strings.TrimSpace(raw)
	if why := filterTooBig(raw); why != "" {
		return nil, scimerrors.ScimError{Status: 400, ScimType: scimerrors.ScimTypeInvalidFilter, Detail: "The filter " + why + "."}
	}
	if m := simpleEquality.FindStringSubmatch(raw); m != nil {
		e := &filter.AttributeExpression{AttributePath: filter.AttributePath{AttributeName: m[1]}, Operator: filter.EQ, CompareValue: m[3]}
		if m[2] != "" {
			sub := m[2]
			e.AttributePath.SubAttribute = &sub
		}
		return e, nil
	}
	raw = entraValuePathCompare.ReplaceAllStringFunc(raw, func(m string) string {
		parts := entraValuePathCompare.FindStringSubmatch(m)
		// The parser has no grouping inside brackets, so only an and-only inner filter can be
		// joined without changing its meaning.
		if orWord.MatchString(parts[2]) {
			return m
		}
		return parts[1] + "[" + parts[2] + " and " + parts[3] + " " + parts[4] + "]"
	})
	e, err := filter.ParseFilter([]byte(raw))
	if err != nil {
		return nil, scimerrors.ScimError{Status: 400, ScimType: scimerrors.ScimTypeInvalidFilter, Detail: "The filter is not valid RFC 7644 filter syntax."}
	}
	return e, nil
}

// listParams reads a list request from the query string.
func (h *handler) listParams(query map[string][]string) (listQuery, error) {
	get := func(k string) string {
		// Parameter names are case-insensitive in practice (Entra and Okta both spell them
		// as the RFC does, but reference collections do not).
		for name, v := range query {
			if strings.EqualFold(name, k) && len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	q := listQuery{projection: h.render.parseProjection(get("attributes"), get("excludedAttributes"))}
	var err error
	if q.startIndex, err = intParam(get("startIndex"), 1); err != nil {
		return q, err
	}
	if q.count, err = intParam(get("count"), h.maxResults); err != nil {
		return q, err
	}
	if f := get("filter"); f != "" {
		if q.filter, err = parseFilter(f); err != nil {
			return q, err
		}
	}
	return q.clamped(h.maxResults), nil
}

// searchRequest is the body of POST /.search (RFC 7644 §3.4.3).
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Filter             string   `json:"filter"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	SortBy             string   `json:"sortBy"`
}

func (h *handler) searchParams(body []byte) (listQuery, error) {
	var sr searchRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		return listQuery{}, scimerrors.ScimErrorInvalidSyntax
	}
	if len(sr.Schemas) != 1 || sr.Schemas[0] != searchRequestID {
		return listQuery{}, scimerrors.ScimError{Status: 400, ScimType: scimerrors.ScimTypeInvalidSyntax, Detail: "schemas must be [\"" + searchRequestID + "\"]."}
	}
	q := listQuery{startIndex: 1, count: h.maxResults,
		projection: h.render.parseProjection(strings.Join(sr.Attributes, ","), strings.Join(sr.ExcludedAttributes, ","))}
	if sr.StartIndex != nil {
		q.startIndex = *sr.StartIndex
	}
	if sr.Count != nil {
		q.count = *sr.Count
	}
	if sr.Filter != "" {
		var err error
		if q.filter, err = parseFilter(sr.Filter); err != nil {
			return q, err
		}
	}
	return q.clamped(h.maxResults), nil
}

// clamped applies RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count is 0, and no
// page is larger than the advertised maxResults.
func (q listQuery) clamped(maxResults int) listQuery {
	q.startIndex = max(q.startIndex, 1)
	q.count = min(max(q.count, 0), maxResults)
	return q
}

func intParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, scimerrors.ScimError{Status: 400, ScimType: scimerrors.ScimTypeInvalidValue, Detail: "startIndex and count must be integers."}
	}
	return n, nil
}

// writeList runs a list query and writes the ListResponse.
func (h *handler) writeList(w http.ResponseWriter, r *http.Request, q listQuery) error {
	found, err := h.query(r.Context(), q)
	if err != nil {
		return h.fail(r, err)
	}
	var buf bytes.Buffer
	size := 256
	for _, res := range found.resources {
		size += len(res.Document) + 512
	}
	buf.Grow(size)
	buf.WriteString(`{"schemas":["` + listResponseID + `"],"totalResults":`)
	buf.WriteString(strconv.Itoa(found.total))
	buf.WriteString(`,"itemsPerPage":`)
	buf.WriteString(strconv.Itoa(len(found.resources)))
	buf.WriteString(`,"startIndex":`)
	buf.WriteString(strconv.Itoa(q.startIndex))
	buf.WriteString(`,"Resources":[`)
	for i, res := range found.resources {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := h.appendResource(&buf, res, q.projection); err != nil {
			return h.fail(r, err)
		}
	}
	buf.WriteString(`]}`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func (h *handler) appendResource(buf *bytes.Buffer, res governance.Resource, p projection) error {
	if p.empty() {
		return h.render.appendJSON(buf, res)
	}
	attrs, err := h.render.attributes(res)
	if err != nil {
		return err
	}
	v := p.apply(h.render.view(res, attrs))
	v["meta"] = h.render.meta(res, timeLayout)
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}
