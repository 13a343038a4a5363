package portal

import (
	"context"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

//go:embed templates static
var assets embed.FS

// Options are what the portal is built from.
type Options struct {
	Access *governance.Access
	// Attach tests applications' connectors and imports their groups (the admin pages).
	Attach *provisioning.Attach
	// BreakGlass activates emergency access and keeps its incident reviews.
	BreakGlass *governance.BreakGlass
	// ServiceAccounts registers non-human identities and gives them owners.
	ServiceAccounts *governance.ServiceAccounts
	// Drift reconciles applications with their targets, and Drift.Worker keeps the dead
	// letters of provisioning.
	Drift *provisioning.Reconciler
	// Reviews runs access reviews: the reviewers' items, the admins' campaigns and the
	// evidence of cycles.
	Reviews *reviews.Service
	// Audit reads the audit trail, to auditors and security admins only.
	Audit *governance.AuditReader
	Roles governance.RoleGroups
	// Sessions keeps sessions server-side (redisstore.Store.Sessions).
	Sessions SessionStore
	OIDC     OIDC
	// PublicURL is where people reach the portal, e.g. https://gatehouse.example.org. Its
	// scheme decides the cookie's Secure flag: a session cookie travels in the clear only to a
	// loopback http address.
	PublicURL string
	// IdleTimeout ends a session unused that long; Lifetime ends every session that long after
	// sign-in, used or not. Both are checked on Now at every request.
	IdleTimeout, Lifetime time.Duration
	// Demo says "Demo mode" on every page; DemoIdP, when set, is served under /demo-idp/.
	Demo    bool
	DemoIdP http.Handler
	Now     func() time.Time
	Log     *zap.Logger
}

// Server is the portal: server-rendered pages over the governance services.
type Server struct {
	opts     Options
	sessions *scs.SessionManager
	views    map[string]*template.Template
	signIn   *signIn
	htmxSRI  string
	handler  http.Handler
	catalogs catalogCache
}

// Session is the signed-in person as every handler sees them: who, their roles, and the viewer
// the governance services take to decide what they may see.
type Session struct {
	Person governance.Person
	Roles  []governance.Role
	Viewer governance.Viewer
}

// Has reports whether the person holds a role.
func (s *Session) Has(r governance.Role) bool { return s != nil && slices.Contains(s.Roles, r) }

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// New builds the portal; it parses every template now, so a broken one stops the start.
func New(opts Options) (*Server, error) {
	u, err := url.Parse(opts.PublicURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("portal: public URL %q is not an absolute URL", opts.PublicURL)
	}
	s := &Server{opts: opts, views: map[string]*template.Template{}}
	s.sessions = scs.New()
	s.sessions.Store = sessionStore{opts.Sessions}
	s.sessions.Codec = sessionCodec{}
	s.sessions.IdleTimeout = opts.IdleTimeout + backstop
	s.sessions.Lifetime = opts.Lifetime + backstop
	s.sessions.Cookie.Name = "gatehouse_session"
	s.sessions.Cookie.HttpOnly = true
	s.sessions.Cookie.SameSite = http.SameSiteLaxMode
	// Secure everywhere but plain http on a loopback host (the demo, tests), where the browser
	// would otherwise never send the cookie back.
	s.sessions.Cookie.Secure = u.Scheme != "http" || !loopback(u.Hostname())
	s.sessions.Cookie.Path = "/"
	s.sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) { s.fail(w, r, err) }
	js, err := assets.ReadFile("static/htmx.min.js")
	if err != nil {
		return nil, err
	}
	sum := sha512.Sum384(js)
	s.htmxSRI = "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
	if err := s.parseViews(); err != nil {
		return nil, err
	}
	s.signIn = newSignIn(opts.OIDC, opts.Now)
	s.handler = s.routes()
	return s, nil
}

// parseViews makes one template set per view: the common templates plus the view's own file.
func (s *Server) parseViews() error {
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	for _, f := range files {
		name := path.Base(f)
		name = name[:len(name)-len(".html")]
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/common/*.html", f)
		if err != nil {
			return fmt.Errorf("portal: template %s: %w", name, err)
		}
		s.views[name] = t
	}
	return nil
}

var funcs = template.FuncMap{
	"date":   date,
	"inc":    func(i int) int { return i + 1 },
	"join":   strings.Join,
	"spoken": spoken,
	"said":   said,
	// typed is a length of time as a person types it in a form (30d, 8h), which
	// governance.ParseDuration reads back.
	"typed": typed,
	// changes gives the admin page's table of changes its caption.
	"changes": func(caption string, cs []changeView) changeTable { return changeTable{caption, cs} },
	"has":     slices.Contains[[]string],
}

// date is how pages show a time: in UTC, to the minute; nothing for none.
func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// typed writes a length of time in whole days or hours where it is one, else as Go writes it:
// all of them governance.ParseDuration reads.
func typed(d time.Duration) string {
	switch {
	case d > 0 && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d > 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return d.String()
}

// ServeHTTP serves every path the portal owns.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// routes is the portal's table of pages: each state change is a POST behind the cross-origin
// check; GET never changes anything but the sign-in handshake's own session keys.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /signin", s.startSignIn)
	mux.HandleFunc("GET /auth/callback", s.callback)
	mux.HandleFunc("POST /signout", s.signOut)
	mux.Handle("GET /catalog", s.signedIn(s.catalog))
	mux.Handle("GET /catalog/{id}", s.signedIn(s.entry))
	mux.Handle("POST /catalog/{id}/request", s.signedIn(s.ask))
	mux.Handle("GET /requests", s.signedIn(s.requests))
	mux.Handle("GET /requests/{id}", s.signedIn(s.request))
	mux.Handle("POST /requests/{id}/cancel", s.signedIn(s.cancel))
	mux.Handle("GET /access", s.signedIn(s.access))
	mux.Handle("GET /access/{id}", s.signedIn(s.grant))
	mux.Handle("POST /access/{id}/extend", s.signedIn(s.extend))
	mux.Handle("POST /access/{id}/give-up", s.signedIn(s.giveUp))
	mux.Handle("POST /access/service-accounts/{id}/deadline", s.signedIn(s.extendServiceAccount))
	mux.Handle("GET /approvals", s.signedIn(s.approvals))
	mux.Handle("GET /approvals/{id}", s.signedIn(s.approval))
	mux.Handle("POST /approvals/{id}/decide", s.signedIn(s.decide))
	mux.Handle("GET /admin", s.holdingAny(curators, s.admin))
	mux.Handle("GET /admin/changes/{id}", s.holdingAny(curators, s.change))
	mux.Handle("POST /admin/changes/{id}/approve", s.holdingAny(curators, s.decideChange(true)))
	mux.Handle("POST /admin/changes/{id}/reject", s.holdingAny(curators, s.decideChange(false)))
	mux.Handle("GET /admin/policies", s.holding(governance.RoleCatalogAdmin, s.policies))
	mux.Handle("POST /admin/policies", s.holding(governance.RoleCatalogAdmin, s.savePolicy))
	mux.Handle("GET /admin/policies/{id}", s.holding(governance.RoleCatalogAdmin, s.policy))
	mux.Handle("POST /admin/policies/{id}", s.holding(governance.RoleCatalogAdmin, s.savePolicy))
	mux.Handle("GET /admin/applications", s.holding(governance.RoleCatalogAdmin, s.applications))
	mux.Handle("POST /admin/applications", s.holding(governance.RoleCatalogAdmin, s.saveApplication))
	mux.Handle("GET /admin/applications/{id}", s.holding(governance.RoleCatalogAdmin, s.application))
	mux.Handle("POST /admin/applications/{id}", s.holding(governance.RoleCatalogAdmin, s.saveApplication))
	mux.Handle("POST /admin/applications/{id}/test-connection", s.holding(governance.RoleCatalogAdmin, s.testConnection))
	mux.Handle("POST /admin/applications/{id}/import", s.holding(governance.RoleCatalogAdmin, s.importGroups))
	mux.Handle("GET /admin/entitlements", s.holding(governance.RoleCatalogAdmin, s.entitlements))
	mux.Handle("POST /admin/entitlements", s.holding(governance.RoleCatalogAdmin, s.addEntitlement))
	mux.Handle("GET /admin/entitlements/{id}", s.holding(governance.RoleCatalogAdmin, s.entitlement))
	mux.Handle("POST /admin/entitlements/{id}", s.holding(governance.RoleCatalogAdmin, s.saveEntitlement))
	mux.Handle("GET /admin/sod-rules", s.holding(governance.RoleSecurityAdmin, s.sodRules))
	mux.Handle("POST /admin/sod-rules", s.holding(governance.RoleSecurityAdmin, s.saveSoDRule))
	mux.Handle("GET /admin/sod-rules/{id}", s.holding(governance.RoleSecurityAdmin, s.sodRule))
	mux.Handle("POST /admin/sod-rules/{id}", s.holding(governance.RoleSecurityAdmin, s.saveSoDRule))
	mux.Handle("GET /reviews", s.signedIn(s.myReviews))
	mux.Handle("POST /reviews/preview", s.signedIn(s.previewDecisions))
	mux.Handle("POST /reviews/decisions", s.signedIn(s.decideMany))
	mux.Handle("GET /reviews/{id}", s.signedIn(s.reviewItem))
	mux.Handle("POST /reviews/{id}/decision", s.signedIn(s.decideOne))
	mux.Handle("POST /reviews/{id}/reassign", s.signedIn(s.reassign))
	mux.Handle("GET /reviews/campaigns", s.holdingAny(campaignAdmins, s.campaigns))
	mux.Handle("POST /reviews/campaigns", s.holdingAny(campaignAdmins, s.createCampaign))
	mux.Handle("POST /reviews/campaigns/{id}/launch", s.holdingAny(campaignAdmins, s.launch))
	mux.Handle("GET /reviews/cycles/{id}", s.holdingAny(campaignAdmins, s.cycle))
	mux.Handle("POST /reviews/cycles/{id}/close", s.holdingAny(campaignAdmins, s.closeCycle))
	mux.Handle("GET /security", s.signedIn(s.security))
	mux.Handle("POST /security/break-glass/{id}", s.signedIn(s.breakGlass))
	mux.Handle("POST /security/incidents/{id}/close", s.holding(governance.RoleSecurityAdmin, s.closeIncident))
	mux.Handle("POST /security/drift/{app}", s.holdingAny(reconcilers, s.reconcile))
	mux.Handle("POST /security/dead-letters/retry", s.holding(governance.RoleSecurityAdmin, s.retryDead))
	mux.Handle("POST /security/service-accounts", s.signedIn(s.createServiceAccount))
	mux.Handle("POST /security/service-accounts/{id}/owner", s.holding(governance.RoleSecurityAdmin, s.reassignServiceAccount))
	mux.Handle("GET /audit", s.holdingAny(auditors, s.audit))
	mux.Handle("GET /audit/export", s.holdingAny(auditors, s.auditExport))
	mux.Handle("GET /audit/grants/{id}", s.holdingAny(auditors, s.auditGrant))
	mux.Handle("GET /audit/cycles/{id}/evidence", s.holdingAny(auditors, s.evidence))
	if s.opts.DemoIdP != nil {
		mux.Handle("/demo-idp/", s.opts.DemoIdP)
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.page(w, r, http.StatusForbidden, "error", "Request refused", errorView{
			Message: "This form was sent from another site, so it was refused. Open the page in Gatehouse and send it from there."})
	}))
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			s.notFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	// The cross-origin check sits inside the session so that its refusal is a page like any
	// other; it runs before any handler can change anything.
	h = cop.Handler(h)
	h = s.whoIsIt(h)
	h = s.sessions.LoadAndSave(h)
	// Assets are served outside the session: a page's stylesheet, script and icon arrive
	// beside the person's next request, and the session manager saves a whole session on
	// every request it serves (its idle timeout is renewed each time), so an asset request
	// finishing late wrote back a session that request had just changed (a flash, a sign-in).
	outer := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	outer.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(http.FileServerFS(static))))
	// Browsers ask every site for an icon; the portal has none, and says so without a 404.
	outer.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})
	outer.Handle("/", h)
	return headers(policy(s.opts.OIDC.Issuer), outer)
}

// staticFiles may be cached: their names change with their content only in a release.
func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// policy is the Content-Security-Policy: scripts, styles and images from the portal itself
// only, so no inline script or style attribute runs, and no other site may frame a page. Forms
// post to the portal only, and to the identity provider's origin: browsers hold the redirects
// that follow a form's post to form-action too, and the sign-in form's post is answered with a
// redirect to the provider's authorization endpoint (on the issuer's origin at the providers
// Gatehouse supports; the demo's is the portal itself).
func policy(issuer string) string {
	formAction := "'self'"
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action " + formAction + "; " +
		"frame-ancestors 'none'; base-uri 'none'"
}

// maxBody bounds a request's body: the largest form, a request with its justification, is a
// few kilobytes.
const maxBody = 64 << 10

// headers sets what every answer carries. Pages are never cached: they show one person's
// access, and a shared or back-button cache would show it to the next person.
func headers(csp string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		// Every form the portal takes is small; a larger body is refused before it is read.
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

type sessionKey struct{}

// Session keys: the person signed in, when (Unix nanoseconds on the portal's clock), and when
// their last request came.
const (
	keyUser      = "user"
	keySignedIn  = "signedIn"
	keySeen      = "seen"
	keyFlash     = "flash"
	keyFlashKind = "flashKind"
)

// whoIsIt puts the signed-in person in the request's context, read afresh on every request: a
// person the IdP deactivated or deleted, or whose session's user is gone, is signed out at once,
// and a person's roles follow their groups without signing in again. A session past its idle
// timeout or its lifetime on the portal's clock is ended, and the request goes on as anyone's
// not signed in, knowing why (endedOr).
func (s *Server) whoIsIt(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := s.sessions.GetString(ctx, keyUser)
		if id == "" {
			next.ServeHTTP(w, r)
			return
		}
		now := s.opts.Now()
		if why := s.ended(ctx, now); why != "" {
			if err := s.sessions.Destroy(ctx); err != nil {
				s.fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, endedKey{}, why)))
			return
		}
		p, err := s.opts.Access.People.Person(ctx, id)
		if errors.Is(err, governance.ErrNotFound) || err == nil && !p.Active {
			if err := s.sessions.Destroy(ctx); err != nil {
				s.fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		roles, err := s.opts.Roles.Of(ctx, p)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.sessions.Put(ctx, keySeen, now.UnixNano())
		sess := &Session{Person: p, Roles: roles, Viewer: governance.ViewerOf(p.ID, roles)}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, sessionKey{}, sess)))
	})
}

// current is the signed-in person, nil when nobody is.
func current(r *http.Request) *Session {
	s, _ := r.Context().Value(sessionKey{}).(*Session)
	return s
}

// signedIn serves h to a signed-in person; anyone else is sent to the front door to sign in,
// told why when their session just timed out.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, *Session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := current(r)
		if sess == nil {
			// Said by the address, not a flash: a flash would store a session for every
			// anonymous request, and anyone could fill Redis with them.
			http.Redirect(w, r, signInPage(endedOr(r, signInRequired)), http.StatusSeeOther)
			return
		}
		h(w, r, sess)
	})
}

// curators are the roles that change the catalog: catalog admins all of it but SoD rules,
// security admins SoD rules (governance.CatalogKind.DecidedBy).
var curators = []governance.Role{governance.RoleCatalogAdmin, governance.RoleSecurityAdmin}

// holdingAny is holding for those holding any of roles.
func (s *Server) holdingAny(roles []governance.Role, h func(http.ResponseWriter, *http.Request, *Session)) http.Handler {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, sess *Session) {
		if !slices.ContainsFunc(roles, sess.Has) {
			s.notFound(w, r)
			return
		}
		h(w, r, sess)
	})
}

// holding serves h to those holding role; to everyone else the page does not exist, exactly
// like a path that names nothing, so a URL reveals nothing.
func (s *Server) holding(role governance.Role, h func(http.ResponseWriter, *http.Request, *Session)) http.Handler {
	return s.holdingAny([]governance.Role{role}, h)
}
