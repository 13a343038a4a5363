package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// viewer is the principal as the domain's rules of who sees what know it.
func viewer(p Principal) governance.Viewer {
	if p.User != nil {
		return governance.ViewerOf(p.User.ID, p.Roles)
	}
	return governance.ViewerOf("", p.Roles)
}

type serviceAccountBody struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Deadline    string `json:"deadline"` // RFC 3339
}

// readDeadline reads a body's deadline, answering a problem in the API's words for one that is
// missing or not an RFC 3339 time (encoding/json's own would quote Go's layout).
func readDeadline(c *gin.Context, raw string) (time.Time, bool) {
	if raw == "" {
		problem(c, http.StatusBadRequest, "invalid-deadline", "deadline is required: an RFC 3339 time like 2027-06-30T00:00:00Z")
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		problem(c, http.StatusBadRequest, "invalid-deadline", "deadline must be an RFC 3339 time like 2027-06-30T00:00:00Z")
		return time.Time{}, false
	}
	return t, true
}

// createServiceAccount registers a service account owned by the caller, with its deadline.
func (s *Server) createServiceAccount(c *gin.Context, p Principal) {
	var body serviceAccountBody
	if !readJSON(c, &body) {
		return
	}
	deadline, ok := readDeadline(c, body.Deadline)
	if !ok {
		return
	}
	sa, err := s.opts.ServiceAccounts.Create(c.Request.Context(), p.User.ID,
		governance.ServiceAccount{ID: body.ID, Name: body.Name, Description: body.Description, Deadline: deadline})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", Prefix+"/service-accounts/"+sa.ID)
	c.JSON(http.StatusCreated, sa)
}

type deadlineBody struct {
	Deadline string `json:"deadline"` // RFC 3339
	Reason   string `json:"reason"`
}

// extendServiceAccount moves the caller's own account's deadline; another's is not found.
func (s *Server) extendServiceAccount(c *gin.Context, p Principal) {
	var body deadlineBody
	if !readJSON(c, &body) {
		return
	}
	deadline, ok := readDeadline(c, body.Deadline)
	if !ok {
		return
	}
	sa, err := s.opts.ServiceAccounts.Extend(c.Request.Context(), c.Param("id"), p.User.ID, deadline, body.Reason)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sa)
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
