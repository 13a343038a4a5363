package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

type submitBody struct {
	Entitlement   string              `json:"entitlement"`
	Beneficiary   string              `json:"beneficiary"` // a SCIM user id; empty: oneself
	Justification string              `json:"justification"`
	Duration      governance.Duration `json:"duration"`
}

// submit opens a request (201), or answers the open one for the same access (200).
func (s *Server) submit(c *gin.Context, p Principal) {
	var body submitBody
	if !readJSON(c, &body) {
		return
	}
	if body.Entitlement == "" {
		problem(c, http.StatusBadRequest, "invalid-body", "entitlement is required")
		return
	}
	r, created, err := s.opts.Access.Submit(c.Request.Context(), governance.Ask{Requester: p.User.ID, Beneficiary: body.Beneficiary,
		Entitlement: body.Entitlement, Justification: body.Justification, Duration: body.Duration, Source: "api:" + p.Name, Known: p.User})
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Header("Location", Prefix+"/requests/"+r.ID)
	}
	c.JSON(status, r)
}

type whatIfBody struct {
	Entitlement string `json:"entitlement"`
	Beneficiary string `json:"beneficiary"`
}

// whatIf tells a requester which SoD rules a request would break. For someone else it reveals
// what they hold, so it is for those who may see that: a service account's owner, auditors
// and security admins; to anyone else the beneficiary does not exist (404).
func (s *Server) whatIf(c *gin.Context, p Principal) {
	var body whatIfBody
	if !readJSON(c, &body) {
		return
	}
	if body.Beneficiary == "" {
		body.Beneficiary = p.User.ID
	}
	conflicts, err := s.opts.Access.WhatIfFor(c.Request.Context(), body.Beneficiary, body.Entitlement, viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	if conflicts == nil {
		conflicts = []governance.SoDConflict{}
	}
	c.JSON(http.StatusOK, whatIfView{Conflicts: conflicts, Blocked: slices.ContainsFunc(conflicts, func(x governance.SoDConflict) bool { return x.Rule.Review == nil })})
}

// whatIfView says which SoD rules a request would break, and whether one would refuse it.
type whatIfView struct {
	Conflicts []governance.SoDConflict `json:"conflicts"`
	Blocked   bool                     `json:"blocked"`
}

// listRequests lists the requests of one beneficiary (?beneficiary=, default oneself): one's
// own, one's service accounts', and for auditors and security admins anyone's; oldest first.
// The cursor is the last request of the page before, so requests made meanwhile neither shift
// nor repeat a page.
func (s *Server) listRequests(c *gin.Context, p Principal) {
	n, ok := limit(c)
	if !ok {
		return
	}
	after, ok := decodeCursor(c)
	if !ok {
		return
	}
	got, err := s.opts.Access.RequestsFor(c.Request.Context(), viewer(p), governance.RequestQuery{Beneficiary: c.Query("beneficiary"), After: after, Limit: n})
	if errors.Is(err, governance.ErrNoSuchPage) {
		problem(c, http.StatusBadRequest, "invalid-parameter", "cursor is not one this API gave")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[governance.Request]{Items: got.Items, NextCursor: encodeNext(got.Next)})
}

func (s *Server) getRequest(c *gin.Context, p Principal) {
	r, err := s.opts.Access.RequestFor(c.Request.Context(), c.Param("id"), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *Server) cancel(c *gin.Context, p Principal) {
	ctx := c.Request.Context()
	r, err := s.opts.Access.RequestFor(ctx, c.Param("id"), viewer(p))
	if err == nil {
		r, err = s.opts.Access.Requests.Cancel(ctx, r.ID, p.User.Party())
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

type decisionBody struct {
	Approve *bool  `json:"approve"`
	Comment string `json:"comment"`
}

// decide records the caller's decision; the domain checks they are an approver of the current
// stage and neither requester nor beneficiary.
func (s *Server) decide(c *gin.Context, p Principal) {
	var body decisionBody
	if !readJSON(c, &body) {
		return
	}
	if body.Approve == nil {
		problem(c, http.StatusBadRequest, "invalid-body", "approve (true or false) is required")
		return
	}
	ctx := c.Request.Context()
	r, err := s.opts.Access.RequestFor(ctx, c.Param("id"), viewer(p))
	if err == nil {
		// The request and the caller were just read: the decision starts from them.
		r, err = s.opts.Access.DecideFrom(ctx, r, *p.User, *body.Approve, body.Comment)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// inbox lists what waits for the caller's decision, oldest first, each with its context. The
// cursor is the last request of the page before, so requests decided or made meanwhile
// neither shift nor repeat a page.
func (s *Server) inbox(c *gin.Context, p Principal) {
	n, ok := limit(c)
	if !ok {
		return
	}
	after, ok := decodeCursor(c)
	if !ok {
		return
	}
	got, err := s.opts.Access.Inbox(c.Request.Context(), viewer(p), after, n)
	if errors.Is(err, governance.ErrNoSuchPage) {
		problem(c, http.StatusBadRequest, "invalid-parameter", "cursor is not one this API gave")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[governance.InboxItem]{Items: got.Items, NextCursor: encodeNext(got.Next)})
}
