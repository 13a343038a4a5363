package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

type breakGlassBody struct {
	Entitlement   string              `json:"entitlement"`
	Justification string              `json:"justification"`
	Duration      governance.Duration `json:"duration"`
}

// breakGlass activates emergency access for the caller at once.
func (s *Server) breakGlass(c *gin.Context, p Principal) {
	var body breakGlassBody
	if !readJSON(c, &body) {
		return
	}
	g, review, err := s.opts.BreakGlass.Activate(c.Request.Context(), p.User.ID, body.Entitlement, body.Justification, body.Duration)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, activationView{Grant: g, IncidentReview: review})
}

// activationView is an emergency activation: the grant, and the review it opened.
type activationView struct {
	Grant          governance.Grant          `json:"grant"`
	IncidentReview governance.IncidentReview `json:"incidentReview"`
}

// incidentView is a review with whether it is overdue now.
type incidentView struct {
	governance.IncidentReview
	Overdue bool `json:"overdue"`
}

// incidentsAll asks for incident reviews in any state.
const incidentsAll governance.IncidentState = "all"

// listIncidentReviews lists reviews, open ones by default (?state=closed or all).
func (s *Server) listIncidentReviews(c *gin.Context, p Principal) {
	state, ok := oneOf(c, "state", governance.IncidentOpen, governance.IncidentClosed, incidentsAll)
	if !ok {
		return
	}
	if state == "" {
		state = governance.IncidentOpen
	}
	all, err := s.opts.BreakGlass.IncidentReviewsFor(c.Request.Context(), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	now := s.opts.BreakGlass.Now()
	shown := []incidentView{}
	for _, r := range all {
		if state == incidentsAll || r.State == state {
			shown = append(shown, incidentView{r, r.Overdue(now)})
		}
	}
	slicePage(c, shown)
}

type findingsBody struct {
	Findings string `json:"findings"`
}

func (s *Server) closeIncidentReview(c *gin.Context, p Principal) {
	var body findingsBody
	if !readJSON(c, &body) {
		return
	}
	r, err := s.opts.BreakGlass.Close(c.Request.Context(), c.Param("id"), p.Actor(), body.Findings)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, incidentView{r, false})
}
