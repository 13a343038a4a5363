package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// sees says whether p may see what an identity holds and asks for: itself, auditors and
// security admins, and a service account's owner.
func (s *Server) sees(c *gin.Context, p Principal, identity string) bool {
	if seesIdentity(p, identity) {
		return true
	}
	if p.User == nil {
		return false
	}
	sa, err := s.opts.ServiceAccounts.Store.GetServiceAccount(c.Request.Context(), identity)
	return err == nil && sa.Owner == p.User.ID
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
	c.JSON(http.StatusCreated, sa)
}

// listServiceAccounts: one's own; auditors and security admins see all (?state=orphaned).
func (s *Server) listServiceAccounts(c *gin.Context, p Principal) {
	state, ok := oneOf(c, "state", governance.ServiceAccountStates...)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	var all []governance.ServiceAccount
	var err error
	if p.Has(RoleAuditor) || p.Has(RoleSecurityAdmin) {
		all, err = s.opts.ServiceAccounts.Store.ServiceAccounts(ctx)
	} else if p.User != nil {
		all, err = s.opts.ServiceAccounts.Store.OwnedBy(ctx, p.User.ID)
	}
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
	sa, err := s.opts.ServiceAccounts.Store.GetServiceAccount(c.Request.Context(), c.Param("id"))
	if err == nil && !s.sees(c, p, sa.ID) {
		err = governance.ErrNotFound
	}
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
