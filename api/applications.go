package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
)

// connectorOf answers the application's connector, or the problem to answer.
func (s *Server) connectorOf(c *gin.Context) (governance.Application, connectors.Connector, bool) {
	app, _, err := governance.GetItem[governance.Application](c.Request.Context(), s.opts.Access.Catalog, governance.KindApplication, c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return app, nil, false
	}
	if app.RecordOnly() {
		problem(c, http.StatusUnprocessableEntity, "no-connector", "application "+app.ID+" has no connector: its grants are records only")
		return app, nil, false
	}
	conn, ok := s.opts.Connector(app.Connector)
	if !ok {
		problem(c, http.StatusUnprocessableEntity, "no-connector", "connector "+app.Connector+" is not configured on this gateway")
		return app, nil, false
	}
	return app, conn, true
}

// connectorFailed answers a failure of the target system; its message carries no secret (the
// connectors never put one in an error).
func connectorFailed(c *gin.Context, err error) {
	problem(c, http.StatusBadGateway, "connector-failed", detail(err))
}

// testConnection checks the application's connector can reach and use its target.
func (s *Server) testConnection(c *gin.Context, _ Principal) {
	app, conn, ok := s.connectorOf(c)
	if !ok {
		return
	}
	if err := conn.TestConnection(c.Request.Context()); err != nil {
		connectorFailed(c, err)
		return
	}
	c.JSON(http.StatusOK, connectionView{Application: app.ID, Connector: app.Connector, OK: true})
}

// connectionView answers a connection test that passed.
type connectionView struct {
	Application string `json:"application"`
	Connector   string `json:"connector"`
	OK          bool   `json:"ok"`
}

// importView says how many groups the target has and which were added as drafts.
type importView struct {
	Found    int                      `json:"found"`
	Imported []governance.Entitlement `json:"imported"`
}

var notInID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// importedID is a catalog id for a target's group: readable where it can be, unique always.
func importedID(app, ref string) string {
	sum := sha256.Sum256([]byte(ref))
	base := strings.Trim(notInID.ReplaceAllString(ref, "-"), "-")
	if len(base) > 60 {
		base = base[:60]
	}
	return app + "." + base + "." + hex.EncodeToString(sum[:3])
}

// importEntitlements reads what the target can grant and adds each as a draft entitlement,
// not requestable, of high risk until an admin reviews it: nobody can ask for an import
// before someone decided what it is.
func (s *Server) importEntitlements(c *gin.Context, p Principal) {
	if !curator(c, p) {
		return
	}
	app, conn, ok := s.connectorOf(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	found, err := conn.ListEntitlements(ctx)
	if err != nil {
		connectorFailed(c, err)
		return
	}
	existing, err := governance.ListItems[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement)
	if err != nil {
		s.fail(c, err)
		return
	}
	have := map[string]bool{}
	for _, e := range existing {
		if e.Application == app.ID {
			have[e.Downstream()] = true
		}
	}
	created := []governance.Entitlement{}
	for _, f := range found {
		if have[f.Ref] {
			continue
		}
		e := governance.Entitlement{ID: importedID(app.ID, f.Ref), Name: f.Name, Description: f.Description, Application: app.ID,
			Risk: governance.RiskHigh, State: governance.EntitlementDraft, Holders: governance.HoldersHumans, Resource: f.Ref}
		_, err := s.opts.Access.Catalog.Put(ctx, p.Actor(), governance.KindEntitlement, e.ID, 0, e, "imported from connector "+app.Connector)
		if errors.Is(err, governance.ErrVersionMismatch) {
			continue // imported by someone else meanwhile
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		created = append(created, e)
	}
	c.JSON(http.StatusOK, importView{Found: len(found), Imported: created})
}

// drift answers the latest reconciliation of the application.
func (s *Server) drift(c *gin.Context, _ Principal) {
	r, err := s.opts.Drift.Latest(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// reconcile compares the application's target with its grants now.
func (s *Server) reconcile(c *gin.Context, p Principal) {
	if _, _, ok := s.connectorOf(c); !ok {
		return
	}
	r, err := s.opts.Drift.Reconcile(c.Request.Context(), c.Param("id"), "user:"+p.Actor())
	if errors.Is(err, provisioning.ErrNoMemberListing) {
		problem(c, http.StatusUnprocessableEntity, "no-member-listing", detail(err))
		return
	}
	if errors.Is(err, provisioning.ErrReconciling) {
		problem(c, http.StatusConflict, "reconciling", "a reconciliation of this application is running; its report will be at GET .../drift")
		return
	}
	if err != nil {
		connectorFailed(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}
