package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// viewer is the principal as the domain's rules of who sees what know it.
func viewer(p Principal) governance.Viewer {
	v := governance.Viewer{SeesAll: p.Has(RoleAuditor) || p.Has(RoleSecurityAdmin), CatalogAdmin: p.Has(RoleCatalogAdmin)}
	if p.User != nil {
		v.ID = p.User.ID
	}
	return v
}

type serviceAccountBody struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// createServiceAccount registers a service account owned by the caller.
func (s *Server) createServiceAccount(c *gin.Context, p Principal) {
	var body serviceAccountBody
	if !readJSON(c, &body) {
		return
	}
	sa, err := s.opts.ServiceAccounts.Create(c.Request.Context(), p.User.ID,
		governance.ServiceAccount{ID: body.ID, Name: body.Name, Description: body.Description})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", Prefix+"/service-accounts/"+sa.ID)
	c.Header("Location", Prefix+"/service-accounts/"+sa.ID)
	c.JSON(http.StatusCreated, sa)
}

// listServiceAccounts: one's own; auditors and security admins see all (?state=orphaned).
func (s *Server) listServiceAccounts(c *gin.Context, p Principal) {
	state, ok := oneOf(c, "state", governance.ServiceAccountStates...)
	if !ok {
		return
	}
	all, err := s.opts.ServiceAccounts.ServiceAccountsFor(c.Request.Context(), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	shown := []governance.ServiceAccount{}
	for _, sa := range all {
		if state == "" || sa.State == state {
			shown = append(shown, sa)
		}
	}
	slicePage(c, shown)
}

func (s *Server) getServiceAccount(c *gin.Context, p Principal) {
	sa, err := s.opts.ServiceAccounts.ServiceAccountFor(c.Request.Context(), c.Param("id"), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sa)
}

type ownerBody struct {
	Owner  string `json:"owner"`
	Reason string `json:"reason"`
}

// reassignServiceAccount gives an account a new owner (orphaned ones above all).
func (s *Server) reassignServiceAccount(c *gin.Context, p Principal) {
	var body ownerBody
	if !readJSON(c, &body) {
		return
	}
	sa, err := s.opts.ServiceAccounts.Reassign(c.Request.Context(), c.Param("id"), body.Owner, p.Actor(), body.Reason)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sa)
}
