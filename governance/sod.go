package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SoDRule names entitlements, possibly across applications, that one identity must not hold
// together. A request that would break it is blocked, or, when the rule has a Review stage,
// must also pass that stage (typically security).
type SoDRule struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	Entitlements []string     `json:"entitlements"`
	Review       *PolicyStage `json:"review,omitempty"` // nil: the rule blocks
}

// SoDConflict is one rule a request would break, and the entitlements it would break it with.
type SoDConflict struct {
	Rule SoDRule  `json:"rule"`
	With []string `json:"with"` // held or pending entitlements of the identity
	// Because names what makes each of With held or pending ("grant grant-1", "request r-2"),
	// when the caller knows it.
	Because []string `json:"because,omitempty"`
}

func (c SoDConflict) String() string {
	with := strings.Join(c.With, ", ")
	if len(c.Because) > 0 {
		with += " (" + strings.Join(c.Because, ", ") + ")"
	}
	return fmt.Sprintf("%s (%s): conflicts with %s", c.Rule.Name, c.Rule.ID, with)
}

// ErrSoDBlocked is returned for a request that would break a blocking SoD rule.
var ErrSoDBlocked = errors.New("governance: separation of duties forbids it")

// ErrSoDChanged is a store's answer when what separation of duties was decided on changed
// before the write: the caller reads again and decides again.
var ErrSoDChanged = errors.New("governance: the identity's access changed while the request was decided")

// Excluded are the entitlements r's grant may not be given beside: the partners of every
// blocking rule, and of every reviewing rule r did not pass a review stage for. A request
// approved before its partner appeared (two requests deciding at once, or a crash between an
// approval and its grant) was never reviewed for the conflict, so its grant waits for none.
func Excluded(rules []SoDRule, r Request) []string {
	var kept []SoDRule
	for _, rule := range rules {
		reviewed := slices.ContainsFunc(r.Stages, func(st Stage) bool { return st.SoDRule == rule.ID })
		if rule.Review == nil || !reviewed {
			kept = append(kept, rule)
		}
	}
	return SoDPartners(kept, r.Entitlement)
}

// SoDPartners are the entitlements any of the rules pairs with entitlement.
func SoDPartners(rules []SoDRule, entitlement string) []string {
	var out []string
	for _, r := range rules {
		if !slices.Contains(r.Entitlements, entitlement) {
			continue
		}
		for _, e := range r.Entitlements {
			if e != entitlement && !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out
}

// SoDConflicts is the what-if: which rules would requesting this entitlement break, given what
// the identity holds or has pending. Pure, so a requester can ask before submitting.
func SoDConflicts(rules []SoDRule, holding []string, requested string) []SoDConflict {
	var out []SoDConflict
	for _, r := range rules {
		if !slices.Contains(r.Entitlements, requested) {
			continue
		}
		var with []string
		for _, h := range holding {
			if h != requested && slices.Contains(r.Entitlements, h) && !slices.Contains(with, h) {
				with = append(with, h)
			}
		}
		if len(with) > 0 {
			out = append(out, SoDConflict{Rule: r, With: with})
		}
	}
	return out
}

// SoDStages decides what conflicts mean for a request: an error naming every blocking
// conflict, or the review stages (resolved) the request must also pass.
func SoDStages(ctx context.Context, dir Directory, conflicts []SoDConflict, rf RequestFor) ([]Stage, error) {
	var blocked []string
	var stages []Stage
	for _, c := range conflicts {
		if c.Rule.Review == nil {
			blocked = append(blocked, c.String())
			continue
		}
		approvers, err := ResolveRules(ctx, dir, c.Rule.Review.Approvers, rf)
		if err != nil {
			return nil, err
		}
		fallback, err := ResolveRules(ctx, dir, c.Rule.Review.Fallback, rf)
		if err != nil {
			return nil, err
		}
		st := *c.Rule.Review
		stages = append(stages, Stage{Name: "SoD review: " + c.String(), SoDRule: c.Rule.ID, Approvers: approvers, Quorum: st.Quorum,
			Timeout: st.Timeout, OnTimeout: st.OnTimeout, Fallback: fallback})
	}
	if len(blocked) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrSoDBlocked, strings.Join(blocked, "; "))
	}
	return stages, nil
}
