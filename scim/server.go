// Package scim is Gatehouse's inbound SCIM 2.0 endpoint (RFC 7643/7644) for identity
// providers, built on github.com/elimity-com/scim and mounted in gin at /scim/v2. The library
// routes, validates bodies and parses PATCH operations; this package stores, filters, pages,
// applies PATCH, projects attributes, handles ETags, authenticates clients and smooths over
// the known quirks of Microsoft Entra ID and Okta.
package scim

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/gateway"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// Prefix is where the endpoint is mounted.
const Prefix = "/scim/v2"

// Client is an identity provider allowed to call the endpoint, known by its token's SHA-256.
type Client struct {
	Name      string
	TokenHash [32]byte
}

// Options configure the endpoint.
type Options struct {
	PublicURL    string // the gateway's external base URL, without /scim/v2
	MaxResults   int
	MaxBodyBytes int64
	Clients      []Client
}

// Server is the SCIM endpoint.
type Server struct {
	lib       scim.Server
	handlers  map[string]*handler // by endpoint: "/Users", "/Groups"
	opts      Options
	baseURL   string
	spc       []byte
	log       *zap.Logger
	endpoints map[string]string // lower-case first path segment -> canonical
}

func init() {
	// Entra sends booleans as "True"/"False" strings. The switch is global in the library;
	// validated values come out as real booleans, so nothing but a bool is ever stored.
	schema.SetAllowStringValues(true)
}

// New builds the endpoint on an identity store.
func New(store governance.IdentityStore, opts Options, log *zap.Logger) (*Server, error) {
	s := &Server{opts: opts, baseURL: strings.TrimRight(opts.PublicURL, "/") + Prefix, log: log, handlers: map[string]*handler{}}
	var types []scim.ResourceType
	for _, k := range []*resourceKind{userKind, groupKind} {
		h := &handler{kind: k, store: store, render: renderer{kind: k, baseURL: s.baseURL}, log: log, maxResults: opts.MaxResults}
		s.handlers[k.endpoint] = h
		types = append(types, k.resourceType(h))
	}
	lib, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			MaxResults: opts.MaxResults, SupportFiltering: true, SupportPatch: true,
			AuthenticationSchemes: []scim.AuthenticationScheme{bearerScheme},
		},
		ResourceTypes: types,
	}, scim.WithBaseURL(s.baseURL), scim.WithLogger(libLogger{log}))
	if err != nil {
		return nil, err
	}
	s.lib = lib
	s.spc = s.serviceProviderConfig()
	s.endpoints = map[string]string{}
	for _, e := range []string{"Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig", "Me", "Bulk"} {
		s.endpoints[strings.ToLower(e)] = e
	}
	return s, nil
}

var bearerScheme = scim.AuthenticationScheme{
	Type: scim.AuthenticationTypeOauthBearerToken, Name: "OAuth Bearer Token", Primary: true,
	Description: "A long-lived bearer token issued to each identity provider client (Authorization: Bearer <token>).",
}

// Mount registers the endpoint on a gin engine.
func (s *Server) Mount(r gin.IRouter) {
	r.Any(Prefix+"/*path", s.serve)
}

func (s *Server) serve(c *gin.Context) {
	w, r := c.Writer, c.Request
	w.Header().Set("Content-Type", "application/scim+json")
	client, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-scim"`)
		c.Set(gateway.RouteKey, Prefix)
		writeError(w, scimerrors.ScimError{Status: http.StatusUnauthorized, Detail: "A valid bearer token is required."})
		return
	}
	r = r.WithContext(governance.WithActor(r.Context(), "scim:"+client))
	c.Set("client", client)

	body, err := readBody(r, s.opts.MaxBodyBytes)
	if err != nil {
		c.Set(gateway.RouteKey, Prefix)
		if errors.Is(err, errBodyTooLarge) {
			writeError(w, scimerrors.ScimError{Status: http.StatusRequestEntityTooLarge, Detail: "The request body is larger than the server accepts."})
		} else {
			writeError(w, scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeInvalidSyntax, Detail: "The request body could not be read."})
		}
		return
	}
	path := s.canonicalPath(c.Param("path"))
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	h := s.handlers["/"+segments[0]]
	c.Set(gateway.RouteKey, routeLabel(segments, h != nil))

	switch {
	case path == "/ServiceProviderConfig" && r.Method == http.MethodGet:
		_, _ = w.Write(s.spc)
		return
	case h != nil && len(segments) == 1 && r.Method == http.MethodGet:
		q, err := h.listParams(r.URL.Query())
		if err == nil {
			err = h.writeList(w, r, q)
		}
		s.finish(w, r, err)
		return
	case h != nil && len(segments) == 2 && segments[1] == ".search" && r.Method == http.MethodPost:
		q, err := h.searchParams(body)
		if err == nil {
			err = h.writeList(w, r, q)
		}
		s.finish(w, r, err)
		return
	case h != nil && len(segments) == 2 && r.Method == http.MethodGet && r.Header.Get("If-None-Match") != "":
		if v, ok := h.notModified(r, segments[1]); ok {
			w.Header().Set("ETag", etag(v))
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if h != nil && r.Method == http.MethodPatch {
		if err := checkPatchPaths(body); err != nil {
			s.finish(w, r, err)
			return
		}
	}
	if h != nil && h.kind == userKind && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		body = rewriteManager(body)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.URL.Path = path
	r.URL.RawPath = ""
	if h != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		s.serveExplained(w, r, h.kind, body)
		return
	}
	s.lib.ServeHTTP(w, r)
}

// notModified answers If-None-Match from the stored version alone, without loading the
// resource. The library cannot send a 304 itself.
func (h *handler) notModified(r *http.Request, id string) (int64, bool) {
	v, err := h.store.Version(r.Context(), h.kind.kind, id)
	if err != nil {
		return 0, false
	}
	for _, tag := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		if strings.TrimSpace(tag) == "*" || parseETag(tag) == v {
			return v, true
		}
	}
	return 0, false
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	var scimErr scimerrors.ScimError
	if !errors.As(err, &scimErr) {
		s.log.Error("scim list failed", zap.String("request_id", requestID(r)), zap.Error(err))
		scimErr = scimerrors.ScimErrorInternal
	}
	writeError(w, scimErr)
}

func writeError(w http.ResponseWriter, e scimerrors.ScimError) {
	raw, _ := json.Marshal(e)
	w.WriteHeader(e.Status)
	_, _ = w.Write(raw)
}

// authenticate compares the bearer token with every client's, in constant time, without
// stopping at the first match, so timing tells nothing about which client or how close.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	name := ""
	for _, c := range s.opts.Clients {
		if subtle.ConstantTimeCompare(sum[:], c.TokenHash[:]) == 1 {
			name = c.Name
		}
	}
	return name, name != ""
}

var errBodyTooLarge = errors.New("scim: request body too large")

// readBody reads at most limit bytes; a longer body is an error, and nothing is processed.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errBodyTooLarge
	}
	return body, nil
}

// canonicalPath tolerates what clients send beyond the RFC without changing its meaning:
// endpoint names in any case (/users) and a trailing slash (/Users/?filter=...).
func (s *Server) canonicalPath(p string) string {
	p = "/" + strings.Trim(p, "/")
	first, rest, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if canon, ok := s.endpoints[strings.ToLower(first)]; ok {
		first = canon
	}
	if rest != "" {
		return "/" + first + "/" + rest
	}
	return "/" + first
}

// routeLabel names a request's route for metrics without the resource id.
func routeLabel(segments []string, resource bool) string {
	switch {
	case resource && len(segments) > 1 && segments[1] == ".search":
		return Prefix + "/" + segments[0] + "/.search"
	case resource && len(segments) > 1:
		return Prefix + "/" + segments[0] + "/:id"
	case resource:
		return Prefix + "/" + segments[0]
	case len(segments) > 0 && segments[0] != "":
		return Prefix + "/" + segments[0]
	}
	return Prefix
}

func (s *Server) serviceProviderConfig() []byte {
	spc := map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/gatehouse-iam/gatehouse/blob/main/docs/api.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": s.opts.MaxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": bearerScheme.Name, "description": bearerScheme.Description,
			"specUri": "https://www.rfc-editor.org/info/rfc6750", "primary": true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": s.baseURL + "/ServiceProviderConfig"},
	}
	b, _ := json.Marshal(spc)
	return b
}

// requestID is the id the gateway gave the request.
func requestID(r *http.Request) string { return r.Header.Get("X-Request-Id") }

// libLogger adapts zap to the library's logger.
type libLogger struct{ log *zap.Logger }

func (l libLogger) Error(args ...any) { l.log.Sugar().Error(args...) }
