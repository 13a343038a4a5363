package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// scanBatch is how many grants one page request reads at most while filtering; a sparse
// filter answers fewer items and a cursor to go on from.
const scanBatch = 2000

// listGrants lists every grant, filtered by identity, entitlement and status, with provenance.
func (s *Server) listGrants(c *gin.Context, _ Principal) {
	status, ok := oneOf(c, "status", governance.GrantStatuses...)
	if !ok {
		return
	}
	identity, entitlement := c.Query("identity"), c.Query("entitlement")
	keep := func(g governance.Grant) bool {
		return (entitlement == "" || g.Entitlement == entitlement) && (status == "" || g.Status == status)
	}
	ctx := c.Request.Context()
	if identity != "" {
		held, err := s.opts.Access.Grants.Holdings(ctx, identity)
		if err != nil {
			s.fail(c, err)
			return
		}
		shown := held[:0]
		for _, g := range held {
			if keep(g) {
				shown = append(shown, g)
			}
		}
		slicePage(c, shown)
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
	out := page[governance.Grant]{Items: []governance.Grant{}}
	for scanned := 0; scanned < scanBatch && len(out.Items) < n; {
		batch, err := s.opts.Store.GrantPage(ctx, off, min(n, scanBatch-scanned))
		if err != nil {
			s.fail(c, err)
			return
		}
		for i, g := range batch {
			if keep(g) {
				out.Items = append(out.Items, g)
				if len(out.Items) == n {
					batch = batch[:i+1]
					break
				}
			}
		}
		off += len(batch)
		scanned += len(batch)
		if len(batch) == 0 {
			c.JSON(http.StatusOK, out)
			return
		}
	}
	if more, err := s.opts.Store.GrantPage(ctx, off, 1); err != nil {
		s.fail(c, err)
		return
	} else if len(more) > 0 {
		out.NextCursor = encodeCursor(strconv.Itoa(off))
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
	if !s.mayView(c, p, id, "you may see your own access and your service accounts'; auditors and security admins anyone's") {
		return
	}
	ctx := c.Request.Context()
	held, err := s.opts.Access.Grants.Holdings(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	requests, err := s.opts.Access.Requests.RequestsOf(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	current, past := []governance.Grant{}, []governance.Grant{}
	for _, g := range held {
		if g.Status.Final() {
			past = append(past, g)
		} else {
			current = append(current, g)
		}
	}
	pending := []governance.Request{}
	for _, r := range requests {
		if r.State == governance.RequestPending {
			pending = append(pending, r)
		}
	}
	c.JSON(http.StatusOK, accessView{Identity: id, Grants: current, Pending: pending, Past: past})
}

// accessView is what one identity holds, asks for and held.
type accessView struct {
	Identity string               `json:"identity"`
	Grants   []governance.Grant   `json:"grants"`  // current: not revoked or expired
	Pending  []governance.Request `json:"pending"` // requests waiting for decisions
	Past     []governance.Grant   `json:"past"`    // revoked or expired
}
