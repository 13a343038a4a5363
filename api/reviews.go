package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Access reviews: campaigns are defined by admins and owned by a person; the owner launches
// and closes cycles early; reviewers decide their items; auditors read everything and export
// the evidence.

// campaignBody is a campaign definition as POST and PUT take it.
type campaignBody struct {
	reviews.Campaign
	// IfVersion is the version a replacement is on top of: the deprecated form of If-Match.
	IfVersion int64 `json:"ifVersion,omitempty"`
}

// saveCampaign creates a campaign (POST to the collection) or replaces one (PUT, If-Match the
// ETag a GET gave, as for the catalog). The body's ifVersion still says the version, with a
// Deprecation header, until the sunset.
func (s *Server) saveCampaign(create bool) func(*gin.Context, Principal) {
	return func(c *gin.Context, p Principal) {
		var body campaignBody
		if !readJSON(c, &body) {
			return
		}
		version, ok := ifMatch(c)
		if !ok {
			return
		}
		switch {
		case create && (version != 0 || body.IfVersion != 0):
			problem(c, http.StatusBadRequest, "invalid-request", "POST creates a campaign: to replace one, PUT it with If-Match")
			return
		case create:
		case body.ID != c.Param("id"):
			problem(c, http.StatusBadRequest, "invalid-body", "the body's id must be the id in the path")
			return
		case version != 0 && body.IfVersion != 0 && version != body.IfVersion:
			problem(c, http.StatusBadRequest, "invalid-request", "If-Match and ifVersion name different versions: send If-Match alone")
			return
		case version == 0 && body.IfVersion == 0:
			problem(c, http.StatusBadRequest, "invalid-header", "If-Match is required to replace a campaign: the ETag a GET gave")
			return
		case version == 0:
			deprecated(c) // ifVersion in the body: If-Match says it now
			version = body.IfVersion
		}
		saved, err := s.opts.Reviews.SaveCampaign(c.Request.Context(), p.Actor(), body.Campaign, version)
		if err != nil {
			s.fail(c, err)
			return
		}
		status := http.StatusOK
		if create {
			status = http.StatusCreated
			c.Header("Location", Prefix+"/campaigns/"+saved.ID)
		}
		c.Header("ETag", etag(saved.Version))
		c.JSON(status, saved)
	}
}

func (s *Server) listCampaigns(c *gin.Context, _ Principal) {
	all, err := s.opts.Reviews.Campaigns(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	slicePage(c, all)
}

func (s *Server) getCampaign(c *gin.Context, _ Principal) {
	camp, err := s.opts.Reviews.Campaign(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etag(camp.Version))
	c.JSON(http.StatusOK, camp)
}

// launchCampaign starts a cycle now. A campaign the caller may not see answers as a missing
// one (404); one they see but do not own answers not-campaign-owner.
func (s *Server) launchCampaign(c *gin.Context, p Principal) {
	ctx := c.Request.Context()
	camp, err := s.opts.Reviews.CampaignFor(ctx, c.Param("id"), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	cy, err := s.opts.Reviews.Launch(ctx, camp.ID, p.User.ID, s.opts.Reviews.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, cy)
}

func (s *Server) listCycles(c *gin.Context, _ Principal) {
	all, err := s.opts.Reviews.Cycles(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	slicePage(c, all)
}

// cycle reads a cycle for p: auditors, admins and its campaign's owner see it; others get 404.
func (s *Server) cycle(c *gin.Context, p Principal) (reviews.Cycle, bool) {
	cy, err := s.opts.Reviews.CycleFor(c.Request.Context(), c.Param("id"), viewer(p))
	if err != nil {
		s.fail(c, err)
		return cy, false
	}
	return cy, true
}

// cycleView is a cycle with its progress: the items still waiting for a decision.
type cycleView struct {
	reviews.Cycle
	Open int `json:"open"`
}

func (s *Server) getCycle(c *gin.Context, p Principal) {
	cy, ok := s.cycle(c, p)
	if !ok {
		return
	}
	open, err := s.opts.Reviews.OpenCount(c.Request.Context(), cy.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, cycleView{cy, open})
}

func (s *Server) closeCycle(c *gin.Context, p Principal) {
	cy, ok := s.cycle(c, p)
	if !ok {
		return
	}
	cy, err := s.opts.Reviews.Close(c.Request.Context(), cy.ID, p.User.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, cy)
}

// cycleReport answers the evidence: JSON (summary, audit position, items) or, with
// ?format=csv, one row per item after a header, the summary in the X-Review-* headers.
func (s *Server) cycleReport(c *gin.Context, p Principal) {
	if _, ok := s.cycle(c, p); !ok {
		return
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "csv" {
		problem(c, http.StatusBadRequest, "invalid-parameter", "format must be json or csv")
		return
	}
	ctx := c.Request.Context()
	rep, err := s.opts.Reviews.Report(ctx, c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if format == "json" {
		c.Header("Content-Type", "application/json")
		c.Status(http.StatusOK)
		head, _ := json.Marshal(rep)
		// The items stream after the summary, so a cycle of a million items is never held whole.
		_, _ = c.Writer.Write(append(head[:len(head)-1], []byte(`,"items":[`)...))
		first := true
		for it, err := range s.opts.Reviews.Items(ctx, rep.Cycle.ID) {
			if err != nil {
				s.log.Sugar().Errorw("review report failed", "error", err)
				return // the truncated JSON does not parse: the client sees the failure
			}
			row, _ := json.Marshal(it)
			if !first {
				_, _ = c.Writer.Write([]byte(","))
			}
			first = false
			_, _ = c.Writer.Write(row)
		}
		_, _ = c.Writer.Write([]byte("]}"))
		return
	}
	sum, _ := json.Marshal(rep.Summary)
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("X-Review-Summary", string(sum))
	c.Header("X-Review-Audit-Position", rep.Audit.ID)
	c.Header("X-Review-Audit-Hash", rep.Audit.Hash)
	c.Status(http.StatusOK)
	if err := reviews.WriteEvidenceCSV(c.Writer, s.opts.Reviews.Items(ctx, rep.Cycle.ID)); err != nil {
		s.log.Sugar().Errorw("review report failed", "error", err)
	}
}

// itemView is an item with what a reviewer needs to judge it.
type itemView struct {
	reviews.Item
	Previous []previousVerdict `json:"previous"` // earlier cycles' verdicts on the same grant
}

type previousVerdict struct {
	Cycle     string          `json:"cycle"`
	Verdict   reviews.Verdict `json:"verdict"`
	DecidedBy string          `json:"decidedBy,omitempty"`
	Decided   time.Time       `json:"decided,omitzero"`
	Comment   string          `json:"comment,omitempty"`
}

func (s *Server) view(c *gin.Context, it reviews.Item) (itemView, error) {
	all, err := s.opts.Reviews.ItemsOfGrant(c.Request.Context(), it.Grant)
	v := itemView{Item: it, Previous: []previousVerdict{}}
	for _, o := range all {
		if o.ID != it.ID {
			v.Previous = append(v.Previous, previousVerdict{Cycle: o.Cycle, Verdict: o.Verdict, DecidedBy: o.DecidedBy, Decided: o.Decided, Comment: o.Comment})
		}
	}
	return v, err
}

// myReviews lists the caller's open items in id order, with their context, filtered as My
// reviews filters them (application, entitlement, risk); the cursor is the last item id of the
// page before, so items decided meanwhile neither shift nor repeat a page.
func (s *Server) myReviews(c *gin.Context, p Principal) {
	n, ok := limit(c)
	if !ok {
		return
	}
	after, ok := decodeCursor(c)
	if !ok {
		return
	}
	f := reviews.Filter{Application: c.Query("application"), Entitlement: c.Query("entitlement")}
	if v := c.Query("risk"); v != "" {
		risk, err := governance.ParseRisk(v)
		if err != nil {
			problem(c, http.StatusBadRequest, "invalid-parameter", "risk must be low, medium, high or critical")
			return
		}
		f.Risk = risk.String()
	}
	assigned, err := s.opts.Reviews.AssignedTo(c.Request.Context(), viewer(p), after, n, f)
	if errors.Is(err, governance.ErrInvalidRequest) {
		problem(c, http.StatusBadRequest, "invalid-parameter", "cursor is not one this API gave")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	next := ""
	if assigned.Next != "" {
		next = encodeCursor(assigned.Next)
	}
	window := assigned.Items()
	views := make([]itemView, 0, len(window))
	for _, it := range window {
		v, err := s.view(c, it)
		if err != nil {
			s.fail(c, err)
			return
		}
		views = append(views, v)
	}
	c.JSON(http.StatusOK, page[itemView]{Items: views, NextCursor: next})
}

func (s *Server) getReview(c *gin.Context, p Principal) {
	// Whoever may read the cycle's report may read its items.
	it, _, err := s.opts.Reviews.ItemFor(c.Request.Context(), c.Param("id"), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.view(c, it)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

type verdictBody struct {
	Certify *bool  `json:"certify"` // required: true certifies, false revokes
	Comment string `json:"comment"`
}

func (b verdictBody) valid(c *gin.Context) bool {
	if b.Certify == nil {
		problem(c, http.StatusBadRequest, "invalid-request", "certify (true or false) is required")
		return false
	}
	return true
}

func (s *Server) decideReview(c *gin.Context, p Principal) {
	var body verdictBody
	if !readJSON(c, &body) || !body.valid(c) {
		return
	}
	it, err := s.opts.Reviews.DecideFor(c.Request.Context(), c.Param("id"), viewer(p), *body.Certify, body.Comment)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}

// bulkDecide decides several items the same way (reviews.Service.DecideEach); each answers on
// its own, so one refusal does not undo or stop the others.
func (s *Server) bulkDecide(c *gin.Context, p Principal) {
	var body bulkBody
	if !readJSON(c, &body) {
		return
	}
	verdict := verdictBody{Certify: body.Certify, Comment: body.Comment}
	if !verdict.valid(c) {
		return
	}
	outcomes, err := s.opts.Reviews.DecideEach(c.Request.Context(), body.Items, viewer(p), *body.Certify, body.Comment)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]bulkResult, 0, len(outcomes))
	for _, o := range outcomes {
		if o.Err != nil {
			p, ok := domainProblem(o.Err)
			if !ok {
				s.fail(c, o.Err)
				return
			}
			out = append(out, bulkResult{Item: o.ID, Error: p.kind})
			continue
		}
		out = append(out, bulkResult{Item: o.ID, Verdict: o.Item.Verdict})
	}
	c.JSON(http.StatusOK, bulkView{Results: out})
}

type bulkBody struct {
	Items   []string `json:"items"`
	Certify *bool    `json:"certify"`
	Comment string   `json:"comment"`
}

// bulkView answers each item of a bulk decision on its own.
type bulkView struct {
	Results []bulkResult `json:"results"`
}

type bulkResult struct {
	Item    string          `json:"item"`
	Verdict reviews.Verdict `json:"verdict,omitempty"`
	Error   string          `json:"error,omitempty"` // the problem type, as a single decision would answer
}

type reassignBody struct {
	To      string `json:"to"`
	Comment string `json:"comment"`
}

func (s *Server) reassignReview(c *gin.Context, p Principal) {
	var body reassignBody
	if !readJSON(c, &body) {
		return
	}
	if body.To == "" {
		problem(c, http.StatusBadRequest, "invalid-request", "to (a user id) is required")
		return
	}
	it, err := s.opts.Reviews.ReassignFor(c.Request.Context(), c.Param("id"), viewer(p), body.To, body.Comment)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}
