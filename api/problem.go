package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Problem is an RFC 7807 problem details object, the body of every error answer.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

const problemBase = "https://gatehouse.dev/problems/"

// problem answers with a problem of the given kind; kind is the last part of its type URI.
func problem(c *gin.Context, status int, kind, detail string) {
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(status, Problem{Type: problemBase + kind, Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: c.Request.URL.Path})
}

// Unmatched answers a request under /api/v1 that no route takes (the gateway's Unmatched
// option): 404, or 405 naming the methods the path takes.
func Unmatched(c *gin.Context, status int) {
	if status == http.StatusMethodNotAllowed {
		problem(c, status, "method-not-allowed", c.Request.Method+" is not an operation of this path; it takes "+c.Writer.Header().Get("Allow"))
		return
	}
	problem(c, http.StatusNotFound, "not-found", "no operation answers "+c.Request.Method+" "+c.Request.URL.Path+"; "+Prefix+"/openapi.json lists them all")
}

// domainProblems translates governance errors at the edge: each sentinel has one status and
// one problem type, and its message (which never carries a secret) is the detail.
type domainError struct {
	err    error
	status int
	kind   string
}

var domainProblems = []domainError{
	{governance.ErrNotFound, http.StatusNotFound, "not-found"},
	{governance.ErrVersionMismatch, http.StatusConflict, "version-mismatch"},
	{governance.ErrConflict, http.StatusConflict, "conflict"},
	{governance.ErrInvalidCatalog, http.StatusBadRequest, "invalid-catalog-entry"},
	{governance.ErrInvalidRequest, http.StatusBadRequest, "invalid-request"},
	{governance.ErrDeadline, http.StatusBadRequest, "invalid-deadline"},
	{governance.ErrServiceAccountExpired, http.StatusConflict, "service-account-expired"},
	{governance.ErrJustificationRequired, http.StatusUnprocessableEntity, "justification-required"},
	{governance.ErrSelfApproval, http.StatusForbidden, "self-approval"},
	{governance.ErrNotApprover, http.StatusForbidden, "not-an-approver"},
	{governance.ErrNotYours, http.StatusForbidden, "not-yours"},
	{governance.ErrAuditorsOnly, http.StatusForbidden, "forbidden"},
	{governance.ErrOwnChange, http.StatusForbidden, "own-change"},
	{governance.ErrInactiveIdentity, http.StatusForbidden, "inactive-identity"},
	{governance.ErrRequestResolved, http.StatusConflict, "already-resolved"},
	{governance.ErrAlreadyDecided, http.StatusConflict, "already-decided"},
	{governance.ErrStaleChange, http.StatusConflict, "stale-change"},
	{governance.ErrGrantState, http.StatusConflict, "grant-state"},
	{governance.ErrAlreadyHeld, http.StatusConflict, "already-held"},
	{governance.ErrSoDBlocked, http.StatusUnprocessableEntity, "separation-of-duties"},
	{governance.ErrOnBehalfNotAllowed, http.StatusUnprocessableEntity, "on-behalf-not-allowed"},
	{governance.ErrNotRequestable, http.StatusUnprocessableEntity, "not-requestable"},
	{governance.ErrNoEligibleApprovers, http.StatusUnprocessableEntity, "no-eligible-approvers"},
	{governance.ErrNotHolder, http.StatusUnprocessableEntity, "wrong-holder"},
	{governance.ErrNotEmergency, http.StatusUnprocessableEntity, "not-emergency"},
	{governance.ErrNotEligible, http.StatusForbidden, "not-eligible"},
	{governance.ErrOverCap, http.StatusUnprocessableEntity, "over-break-glass-cap"},
	{governance.ErrPendingRequest, http.StatusConflict, "pending-request"},
	{governance.ErrSoDChanged, http.StatusConflict, "access-changed"},
	{reviews.ErrInvalidCampaign, http.StatusBadRequest, "invalid-campaign"},
	{reviews.ErrNotCampaignOwner, http.StatusForbidden, "not-campaign-owner"},
	{reviews.ErrOwnAccess, http.StatusForbidden, "own-access"},
	{reviews.ErrNotReviewer, http.StatusForbidden, "not-the-reviewer"},
	{reviews.ErrOtherLevel, http.StatusForbidden, "other-level"},
	{reviews.ErrCycleClosed, http.StatusConflict, "cycle-closed"},
	{reviews.ErrCycleOpen, http.StatusConflict, "cycle-open"},
	{reviews.ErrItemDecided, http.StatusConflict, "already-decided"},
}

// domainProblem is the problem a domain error is, if it is one.
func domainProblem(err error) (domainError, bool) {
	for _, p := range domainProblems {
		if errors.Is(err, p.err) {
			return p, true
		}
	}
	return domainError{}, false
}

// detail is an error's message for the caller, without the package prefixes wrapping stacks
// up ("governance: invalid request: beneficiary: governance: ..."): they tell a caller nothing.
func detail(err error) string {
	parts := strings.Split(err.Error(), ": ")
	kept := parts[:0]
	for _, p := range parts {
		if !packagePrefixes[p] {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ": ")
}

var packagePrefixes = map[string]bool{"governance": true, "reviews": true, "provisioning": true, "redisstore": true, "connectors": true}

// retryAfterSeconds is what a 503 asks callers to wait: Redis restarts and failovers take
// seconds.
const retryAfterSeconds = 5

// fail answers with the problem for err; anything unknown is a bare 500, logged with the
// request id and never shown to the caller.
func (s *Server) fail(c *gin.Context, err error) {
	if errors.Is(err, governance.ErrUnavailable) {
		// Worth retrying, and not the caller's fault; what failed (an address, a socket error)
		// is for the log, which quiets repeats of this warning while Redis is away.
		s.log.Warn("store unavailable; answering 503", zap.String("request_id", c.GetHeader("X-Request-Id")), zap.Error(err))
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
		problem(c, http.StatusServiceUnavailable, "unavailable", "the service cannot reach its store; retry in a few seconds")
		return
	}
	if p, ok := domainProblem(err); ok {
		problem(c, p.status, p.kind, detail(err))
		return
	}
	s.log.Error("api request failed", zap.String("request_id", c.GetHeader("X-Request-Id")), zap.String("path", c.FullPath()), zap.Error(err))
	problem(c, http.StatusInternalServerError, "internal", "")
}
