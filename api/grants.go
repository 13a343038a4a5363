package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// listGrants lists grants, filtered by identity, entitlement and status, with provenance.
func (s *Server) listGrants(c *gin.Context, p Principal) {
	status, ok := oneOf(c, "status", governance.GrantStatuses...)
	if !ok {
		return
	}
	n, ok := limit(c)
	if !ok {
		return
	}
	off, ok := offsetCursor(c)
	if !ok {
		return
	}
	list, err := s.opts.Access.GrantsFor(c.Request.Context(), viewer(p), governance.GrantQuery{
		Identity: c.Query("identity"), Entitlement: c.Query("entitlement"), Status: status, Offset: off, Limit: n})
	if err != nil {
		s.fail(c, err)
		return
	}
	out := page[governance.Grant]{Items: list.Items}
	if list.Next > 0 {
		out.NextCursor = encodeCursor(strconv.Itoa(list.Next))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getGrant(c *gin.Context, p Principal) {
	g, err := s.opts.Access.GrantFor(c.Request.Context(), c.Param("id"), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, g)
}

type reasonBody struct {
	Reason string `json:"reason"`
}

// revoke removes a grant now; the reason is required and goes to the audit trail.
func (s *Server) revoke(c *gin.Context, p Principal) {
	var body reasonBody
	if !readJSON(c, &body) {
		return
	}
	if body.Reason == "" {
		problem(c, http.StatusBadRequest, "invalid-body", "reason is required")
		return
	}
	g, err := s.opts.Access.Grants.Revoke(c.Request.Context(), c.Param("id"), "user:"+p.Actor(), body.Reason)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if g.Status == governance.GrantRevoking {
		status = http.StatusAccepted // the provisioning worker finishes the removal downstream
	}
	c.JSON(status, g)
}

// access answers, for one identity, what it holds, why, approved by whom, until when, and what
// it has asked for.
func (s *Server) access(c *gin.Context, p Principal) {
	id := c.Param("id")
	if id == "me" && p.User != nil {
		id = p.User.ID
	}
	out, err := s.opts.Access.AccessFor(c.Request.Context(), id, viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
