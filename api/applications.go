package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
)

// attach is the service that tests applications' connectors and imports their groups.
func (s *Server) attach() *provisioning.Attach {
	return &provisioning.Attach{Catalog: s.opts.Access.Catalog, Connector: s.opts.Connector}
}

// connectorOf answers the application's connector, or the problem to answer.
func (s *Server) connectorOf(c *gin.Context) bool {
	_, _, err := s.attach().ConnectorOf(c.Request.Context(), c.Param("id"))
	return s.attachFailed(c, err)
}

// connectorFailed answers a failure of the target system; its message carries no secret (the
// connectors never put one in an error).
func connectorFailed(c *gin.Context, err error) {
	problem(c, http.StatusBadGateway, "connector-failed", detail(err))
}

// attachFailed answers an error of attaching an application; false when there was one.
func (s *Server) attachFailed(c *gin.Context, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, provisioning.ErrRecordOnly), errors.Is(err, provisioning.ErrConnectorMissing):
		problem(c, http.StatusUnprocessableEntity, "no-connector", detail(err))
	case errors.Is(err, provisioning.ErrTargetFailed):
		connectorFailed(c, err)
	default:
		s.fail(c, err)
	}
	return false
}

// testConnection checks the application's connector can reach and use its target.
func (s *Server) testConnection(c *gin.Context, _ Principal) {
	app, err := s.attach().TestConnection(c.Request.Context(), c.Param("id"))
	if !s.attachFailed(c, err) {
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

// importEntitlements adds what the target can grant as draft entitlements
// (provisioning.Attach.Import).
func (s *Server) importEntitlements(c *gin.Context, p Principal) {
	if !curator(c, p) {
		return
	}
	res, err := s.attach().Import(c.Request.Context(), p.Actor(), c.Param("id"))
	if !s.attachFailed(c, err) {
		return
	}
	c.JSON(http.StatusOK, importView{Found: res.Found, Imported: res.Imported})
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
	if !s.connectorOf(c) {
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
