// Package api is Gatehouse's REST API at /api/v1: the catalog, access requests and decisions,
// grants, break-glass and the audit trail, for people (OIDC) and automation (API tokens).
// Errors are RFC 7807 problem details; lists are cursor-paginated; the OpenAPI document at
// /api/v1/openapi.json describes every route, and a test keeps it true.
package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Options configure the API.
type Options struct {
	Access     *governance.Access
	BreakGlass *governance.BreakGlass
	// ServiceAccounts are the non-human identities people own.
	ServiceAccounts *governance.ServiceAccounts
	// Audit reads the audit trail and its checkpoints' status.
	Audit        *governance.AuditReader
	Identities   governance.IdentityStore
	Tokens       []Token
	OIDC         OIDC
	RoleGroups   map[Role][]string
	MaxBodyBytes int64
	HTTPClient   *http.Client // for OIDC discovery and keys; its Timeout is capped at OIDC.Timeout
	// Connector answers a configured connector by name.
	Connector func(name string) (connectors.Connector, bool)
	// Drift reconciles applications on demand and keeps their reports.
	Drift *provisioning.Reconciler
	// Provisioning is the worker whose dead letters the API lists.
	Provisioning *provisioning.Worker
	// Reviews runs access-review campaigns.
	Reviews *reviews.Service
}

// Server is the REST API.
type Server struct {
	opts Options
	auth *authenticator
	log  *zap.Logger
}

// New builds the API.
func New(opts Options, log *zap.Logger) *Server {
	if opts.Connector == nil {
		opts.Connector = func(string) (connectors.Connector, bool) { return nil, false }
	}
	a := &authenticator{tokens: opts.Tokens, people: opts.Access.People, roles: governance.RoleGroups{Groups: opts.RoleGroups, Identities: opts.Identities}}
	if opts.OIDC.Issuer != "" {
		a.oidc = newOIDCVerifier(opts.OIDC, opts.HTTPClient)
	}
	return &Server{opts: opts, auth: a, log: log}
}

// route is one operation: who may call it, and what it does. Object-level rules (whose request,
// which approver) are checked in the handler or by the domain.
type route struct {
	method, path string
	allow        []Role // any of these; nil: no authentication (the OpenAPI document only)
	handle       func(*gin.Context, Principal)
}

var (
	anyUser    = []Role{RoleRequester}
	auditors   = []Role{RoleAuditor, RoleSecurityAdmin}
	admins     = []Role{RoleCatalogAdmin, RoleSecurityAdmin}
	everyone   = []Role{RoleRequester, RoleCatalogAdmin, RoleSecurityAdmin, RoleAuditor}
	catalogers = []Role{RoleCatalogAdmin}
	security   = []Role{RoleSecurityAdmin}
)

func (s *Server) routes() []route {
	return []route{
		{"GET", "/me", everyone, s.me},

		{"GET", "/applications", everyone, listItems[governance.Application](s, governance.KindApplication, nil)},
		{"POST", "/applications", catalogers, putItem[governance.Application](s, governance.KindApplication, true)},
		{"GET", "/applications/:id", everyone, getItem[governance.Application](s, governance.KindApplication, nil)},
		{"PUT", "/applications/:id", catalogers, putItem[governance.Application](s, governance.KindApplication, false)},
		{"POST", "/applications/:id/test-connection", catalogers, s.testConnection},
		{"POST", "/applications/:id/import", catalogers, s.importEntitlements},
		{"GET", "/applications/:id/drift", append(auditors, RoleCatalogAdmin), s.drift},
		{"POST", "/applications/:id/reconcile", admins, s.reconcile},
		{"GET", "/entitlements", everyone, listItems(s, governance.KindEntitlement, visibleEntitlement)},
		{"POST", "/entitlements", catalogers, putItem[governance.Entitlement](s, governance.KindEntitlement, true)},
		{"GET", "/entitlements/:id", everyone, getItem(s, governance.KindEntitlement, visibleEntitlement)},
		{"PUT", "/entitlements/:id", catalogers, putItem[governance.Entitlement](s, governance.KindEntitlement, false)},
		{"GET", "/policies", everyone, listItems[governance.Policy](s, governance.KindPolicy, nil)},
		{"GET", "/policies/:id", everyone, getItem[governance.Policy](s, governance.KindPolicy, nil)},
		{"POST", "/policies", catalogers, putItem[governance.Policy](s, governance.KindPolicy, true)},
		{"PUT", "/policies/:id", catalogers, putItem[governance.Policy](s, governance.KindPolicy, false)},
		{"GET", "/sod-rules", everyone, listItems[governance.SoDRule](s, governance.KindSoDRule, nil)},
		{"GET", "/sod-rules/:id", everyone, getItem[governance.SoDRule](s, governance.KindSoDRule, nil)},
		{"POST", "/sod-rules", security, putItem[governance.SoDRule](s, governance.KindSoDRule, true)},
		{"PUT", "/sod-rules/:id", security, putItem[governance.SoDRule](s, governance.KindSoDRule, false)},
		{"GET", "/catalog-changes", append(admins, RoleAuditor), s.listChanges},
		{"POST", "/catalog-changes/:id/approve", admins, s.decideChange(true)},
		{"POST", "/catalog-changes/:id/reject", admins, s.decideChange(false)},

		{"POST", "/requests", anyUser, s.submit},
		{"POST", "/requests/what-if", anyUser, s.whatIf},
		{"GET", "/requests", everyone, s.listRequests},
		{"GET", "/requests/:id", everyone, s.getRequest},
		{"POST", "/requests/:id/cancel", anyUser, s.cancel},
		{"POST", "/requests/:id/decision", anyUser, s.decide},
		{"GET", "/inbox", anyUser, s.inbox},

		{"GET", "/grants", auditors, s.listGrants},
		{"GET", "/grants/:id", everyone, s.getGrant},
		{"POST", "/grants/:id/revoke", security, s.revoke},
		{"GET", "/identities/:id/access", everyone, s.access},

		{"POST", "/service-accounts", anyUser, s.createServiceAccount},
		{"GET", "/service-accounts", everyone, s.listServiceAccounts},
		{"GET", "/service-accounts/:id", everyone, s.getServiceAccount},
		{"POST", "/service-accounts/:id/deadline", anyUser, s.extendServiceAccount},
		{"POST", "/service-accounts/:id/owner", security, s.reassignServiceAccount},

		{"POST", "/break-glass", anyUser, s.breakGlass},
		{"GET", "/incident-reviews", auditors, s.listIncidentReviews},
		{"POST", "/incident-reviews/:id/close", security, s.closeIncidentReview},

		{"GET", "/provisioning/dead-letters", auditors, s.deadLetters},

		{"POST", "/campaigns", admins, s.saveCampaign(true)},
		{"GET", "/campaigns", append(admins, RoleAuditor), s.listCampaigns},
		{"GET", "/campaigns/:id", append(admins, RoleAuditor), s.getCampaign},
		{"PUT", "/campaigns/:id", admins, s.saveCampaign(false)},
		{"POST", "/campaigns/:id/launch", anyUser, s.launchCampaign},
		{"GET", "/cycles", append(admins, RoleAuditor), s.listCycles},
		{"GET", "/cycles/:id", everyone, s.getCycle},
		{"POST", "/cycles/:id/close", anyUser, s.closeCycle},
		{"GET", "/cycles/:id/report", everyone, s.cycleReport},
		{"GET", "/reviews", anyUser, s.myReviews},
		{"POST", "/reviews/decisions", anyUser, s.bulkDecide},
		{"GET", "/reviews/:id", everyone, s.getReview},
		{"POST", "/reviews/:id/decision", anyUser, s.decideReview},
		{"POST", "/reviews/:id/reassign", anyUser, s.reassignReview},

		{"GET", "/audit/events", auditors, s.auditEvents},
		{"GET", "/audit/export", auditors, s.auditExport},
		{"GET", "/audit/checkpoint", auditors, s.auditCheckpoint},

		{"GET", "/openapi.json", nil, s.openAPI},
	}
}

// Mount adds the API to the engine.
func (s *Server) Mount(r *gin.Engine) {
	g := r.Group(Prefix, s.limitBody)
	for _, rt := range s.routes() {
		handlers := []gin.HandlerFunc{}
		if rt.allow != nil {
			handlers = append(handlers, s.authenticate, authorize(rt.allow))
		}
		handle := rt.handle
		handlers = append(handlers, func(c *gin.Context) {
			p, _ := c.Get(principalKey)
			pr, _ := p.(Principal)
			handle(c, pr)
		})
		g.Handle(rt.method, rt.path, handlers...)
	}
}

func authorize(allow []Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		for _, r := range allow {
			if p.Has(r) {
				c.Next()
				return
			}
		}
		problem(c, http.StatusForbidden, "forbidden", "this operation needs one of the roles "+roleList(allow))
	}
}

func roleList(roles []Role) string {
	var b bytes.Buffer
	for i, r := range roles {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(r))
	}
	return b.String()
}

func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.opts.MaxBodyBytes {
		problem(c, http.StatusRequestEntityTooLarge, "body-too-large", "the body exceeds "+strconv.FormatInt(s.opts.MaxBodyBytes, 10)+" bytes")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes)
	c.Next()
}

// readJSON decodes the body strictly: unknown fields and trailing data are errors, so a typo
// is not silently ignored. It answers the problem itself and reports false on failure.
func readJSON(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON value")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		problem(c, http.StatusRequestEntityTooLarge, "body-too-large", "the body exceeds "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
		return false
	case errors.Is(err, io.EOF):
		problem(c, http.StatusBadRequest, "invalid-body", "a JSON body is required")
		return false
	case err != nil:
		problem(c, http.StatusBadRequest, "invalid-body", bodyProblem(err))
		return false
	}
	return true
}

// bodyProblem says what is wrong with a body in the body's own terms: encoding/json's
// messages name Go types ("cannot unmarshal array into Go value of type api.submitBody").
func bodyProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not JSON: %s, at byte %d", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ") // "number 1.5"
		var path []string
		for _, name := range strings.Split(typ.Field, ".") {
			// Embedded structs put their Go name in the path; JSON names here start lower-case.
			if name != "" && !unicode.IsUpper(rune(name[0])) {
				path = append(path, name)
			}
		}
		if len(path) == 0 {
			return "the body must be " + jsonKind(typ.Type) + ", not " + withArticle(got)
		}
		return strings.Join(path, ".") + " must be " + jsonKind(typ.Type) + ", not " + withArticle(got)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends before its JSON does"
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + field
	}
	return detail(err) // a value's own parser: a duration, a risk
}

// jsonKind names what JSON a Go type reads.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

func withArticle(jsonType string) string {
	switch jsonType {
	case "array", "object":
		return "an " + jsonType
	case "bool":
		return "a boolean"
	}
	return "a " + jsonType
}

// oneOf reads an optional query parameter that must be one of values ("" when absent). It
// answers the problem itself and reports false on anything else: a misspelt filter is an
// error, not an empty list.
func oneOf[T ~string](c *gin.Context, name string, values ...T) (T, bool) {
	v := T(c.Query(name))
	if v == "" || slices.Contains(values, v) {
		return v, true
	}
	names := make([]string, len(values))
	for i, x := range values {
		names[i] = string(x)
	}
	problem(c, http.StatusBadRequest, "invalid-parameter", fmt.Sprintf("%s %q is not one of %s", name, v, strings.Join(names, ", ")))
	return "", false
}

// page is a cursor-paginated list.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

const (
	defaultLimit = 50
	maxLimit     = 500
)

// limit reads ?limit=, answering the problem itself on a bad value.
func limit(c *gin.Context) (int, bool) {
	v := c.Query("limit")
	if v == "" {
		return defaultLimit, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		problem(c, http.StatusBadRequest, "invalid-parameter", "limit must be 1 to "+strconv.Itoa(maxLimit))
		return 0, false
	}
	return n, true
}

// Cursors are opaque to clients: base64 of a position the endpoint understands.
func encodeCursor(pos string) string { return base64.RawURLEncoding.EncodeToString([]byte(pos)) }

func decodeCursor(c *gin.Context) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c.Query("cursor"))
	if err != nil {
		problem(c, http.StatusBadRequest, "invalid-parameter", "cursor is not one this API gave")
		return "", false
	}
	return string(raw), true
}

// offsetCursor reads a cursor that is an offset into a stable ordering.
func offsetCursor(c *gin.Context) (int, bool) {
	pos, ok := decodeCursor(c)
	if !ok || pos == "" {
		return 0, ok
	}
	n, err := strconv.Atoi(pos)
	if err != nil || n < 0 {
		problem(c, http.StatusBadRequest, "invalid-parameter", "cursor is not one this API gave")
		return 0, false
	}
	return n, true
}

// slicePage pages an in-memory list by offset.
func slicePage[T any](c *gin.Context, all []T) {
	if window, next, ok := pageWindow(c, all); ok {
		c.JSON(http.StatusOK, page[T]{Items: window, NextCursor: next})
	}
}

// pageWindow is the part of all that ?cursor= and ?limit= ask for, and the next cursor; it
// answers the problem itself and reports false on bad parameters.
func pageWindow[T any](c *gin.Context, all []T) ([]T, string, bool) {
	n, ok := limit(c)
	if !ok {
		return nil, "", false
	}
	off, ok := offsetCursor(c)
	if !ok {
		return nil, "", false
	}
	if off >= len(all) {
		return []T{}, "", true
	}
	end := min(off+n, len(all))
	next := ""
	if end < len(all) {
		next = encodeCursor(strconv.Itoa(end))
	}
	return all[off:end], next, true
}

// The forms the API still takes but will drop: since when (RFC 9745's Deprecation, a Unix
// time), and until when (RFC 8594's Sunset). docs/api.md lists them with what replaces them.
const (
	deprecatedSince = "@1796515200"                   // 2026-12-06
	sunset          = "Wed, 30 Jun 2027 00:00:00 GMT" // six months on
)

// deprecated marks an answer to a deprecated form: it still works until the sunset.
func deprecated(c *gin.Context) {
	c.Header("Deprecation", deprecatedSince)
	c.Header("Sunset", sunset)
}

// meView is who the caller is: the principal, its roles, and the user it acts as.
type meView struct {
	Principal string  `json:"principal"`
	Roles     []Role  `json:"roles"`
	User      *meUser `json:"user,omitempty"` // absent for a service principal
}

type meUser struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
}

func (s *Server) me(c *gin.Context, p Principal) {
	out := meView{Principal: p.Name, Roles: p.Roles}
	if p.User != nil {
		out.User = &meUser{ID: p.User.ID, UserName: p.User.UserName}
	}
	c.JSON(http.StatusOK, out)
}

// deadLetters lists provisioning jobs that failed for good: each names the identity and the
// application, and why; their grants say failed (or still revoking).
func (s *Server) deadLetters(c *gin.Context, _ Principal) {
	dead, err := s.opts.Provisioning.DeadLetters(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	if dead == nil {
		dead = []provisioning.DeadJob{}
	}
	slicePage(c, dead)
}
