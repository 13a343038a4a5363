package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// The repeated parts of the admin forms (a policy's stages, who approves each, the groups and
// people of a list) work without JavaScript: a list of people or groups is a textarea with one
// name per line, as owners already are; a policy shows its stages and one blank stage, and
// "Add another stage" is a plain submit that shows the form again, as typed, with one more
// blank stage and nothing saved. A stage left blank is dropped.

// maxStages bounds the stages a policy's form shows, as the domain bounds a policy's.
const maxStages = governance.MaxPolicyStages

// ruleForm is a list of approver rules as a form edits it: the three rules that name nobody
// are boxes to tick; groups (display names) and people (user names) are one per line.
type ruleForm struct {
	Prefix                                        string // of its fields' names
	Manager, EntitlementOwners, ApplicationOwners bool
	Groups, Users                                 string
}

func (f ruleForm) blank() bool {
	return !f.Manager && !f.EntitlementOwners && !f.ApplicationOwners && strings.TrimSpace(f.Groups) == "" && strings.TrimSpace(f.Users) == ""
}

// stageForm is one stage of approvers as a form edits it, its values as typed. Prefix names
// its fields ("stage.0.", "review.").
type stageForm struct {
	Prefix                           string
	Name, Quorum, Timeout, OnTimeout string
	Approvers, Fallback              ruleForm
}

// ApproverRules and FallbackRules are the stage's lists of rules, named for its form.
func (f stageForm) ApproverRules() ruleForm {
	f.Approvers.Prefix = f.Prefix + "approvers."
	return f.Approvers
}
func (f stageForm) FallbackRules() ruleForm {
	f.Fallback.Prefix = f.Prefix + "fallback."
	return f.Fallback
}

func (f stageForm) blank() bool {
	return strings.TrimSpace(f.Name) == "" && f.Approvers.blank() && f.Fallback.blank()
}

// readRules reads a list of rules from the fields under prefix.
func readRules(v url.Values, prefix string) ruleForm {
	return ruleForm{Manager: v.Get(prefix+"manager") == "1", EntitlementOwners: v.Get(prefix+"entitlementOwners") == "1",
		ApplicationOwners: v.Get(prefix+"applicationOwners") == "1", Groups: v.Get(prefix + "groups"), Users: v.Get(prefix + "users")}
}

// readStage reads the stage whose fields are under prefix, as typed.
func readStage(v url.Values, prefix string) stageForm {
	return stageForm{Prefix: prefix, Name: v.Get(prefix + "name"), Quorum: v.Get(prefix + "quorum"), Timeout: v.Get(prefix + "timeout"),
		OnTimeout: v.Get(prefix + "onTimeout"), Approvers: readRules(v, prefix+"approvers."), Fallback: readRules(v, prefix+"fallback.")}
}

// stagePrefix names the fields of a policy's i-th stage.
func stagePrefix(i int) string { return "stage." + strconv.Itoa(i) + "." }

// readStages reads a policy form's stages in order, up to the first index the form lacks;
// more than maxStages is a problem.
func readStages(v url.Values) ([]stageForm, string) {
	var out []stageForm
	for i := 0; ; i++ {
		if _, ok := v[stagePrefix(i)+"name"]; !ok {
			return out, ""
		}
		if i == maxStages { // the page never shows a row beyond the last allowed
			return out, "A policy has at most " + strconv.Itoa(maxStages) + " stages."
		}
		out = append(out, readStage(v, stagePrefix(i)))
	}
}

// stageFormOf is a stage as its form shows it: people and groups by name.
func (s *Server) stageFormOf(r *http.Request, prefix string, st governance.PolicyStage) (stageForm, error) {
	f := stageForm{Prefix: prefix, Name: st.Name, Quorum: strconv.Itoa(st.Quorum), OnTimeout: string(st.OnTimeout)}
	if st.Timeout > 0 {
		f.Timeout = typed(st.Timeout.D())
	}
	var err error
	if f.Approvers, err = s.rulesFormOf(r, st.Approvers); err != nil {
		return f, err
	}
	f.Fallback, err = s.rulesFormOf(r, st.Fallback)
	return f, err
}

func (s *Server) rulesFormOf(r *http.Request, rules []governance.ApproverRule) (ruleForm, error) {
	var f ruleForm
	var groups, users []string
	for _, rule := range rules {
		switch rule.Kind {
		case governance.ApproverManager:
			f.Manager = true
		case governance.ApproverEntitlementOwners:
			f.EntitlementOwners = true
		case governance.ApproverApplicationOwners:
			f.ApplicationOwners = true
		case governance.ApproverGroup:
			groups = append(groups, rule.Group)
		case governance.ApproverUsers:
			users = append(users, rule.Users...)
		}
	}
	var err error
	if f.Groups, err = s.groupNames(r, groups); err != nil {
		return f, err
	}
	f.Users, err = s.userNames(r, users)
	return f, err
}

// stageOf reads a stage's form as the domain's: names become ids, a name nobody has or a value
// that does not read is a problem said in words. Whether the stage makes sense (a quorum, a
// timeout's action, fallback approvers to escalate to) is the domain's to say.
func (s *Server) stageOf(r *http.Request, f stageForm) (governance.PolicyStage, string, error) {
	st := governance.PolicyStage{Name: strings.TrimSpace(f.Name), Quorum: 1, OnTimeout: governance.TimeoutAction(f.OnTimeout)}
	if st.Name == "" || len(st.Name) > 200 {
		return st, "Give every stage a name of at most 200 characters.", nil
	}
	if raw := strings.TrimSpace(f.Quorum); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 100 {
			return st, "Write how many must approve stage “" + st.Name + "” as a number from 1 to 100.", nil
		}
		st.Quorum = n
	}
	if raw := strings.TrimSpace(f.Timeout); raw != "" {
		d, err := governance.ParseDuration(raw)
		if err != nil {
			return st, "Write how long stage “" + st.Name + "” may wait as a length of time, like 8h, 2d or P2D, or leave it empty.", nil
		}
		st.Timeout = d
	}
	switch st.OnTimeout {
	case "", governance.TimeoutDeny, governance.TimeoutEscalate:
	default:
		return st, "Choose from the list what happens when stage “" + st.Name + "” waits too long.", nil
	}
	var problem string
	var err error
	if st.Approvers, problem, err = s.rulesOf(r, f.Approvers); problem != "" || err != nil {
		return st, problem, err
	}
	st.Fallback, problem, err = s.rulesOf(r, f.Fallback)
	return st, problem, err
}

// rulesOf reads a list of rules: one rule per ticked box and per group named, and one rule
// for the people named.
func (s *Server) rulesOf(r *http.Request, f ruleForm) ([]governance.ApproverRule, string, error) {
	var rules []governance.ApproverRule
	for _, k := range []struct {
		on   bool
		kind governance.ApproverKind
	}{{f.Manager, governance.ApproverManager}, {f.EntitlementOwners, governance.ApproverEntitlementOwners}, {f.ApplicationOwners, governance.ApproverApplicationOwners}} {
		if k.on {
			rules = append(rules, governance.ApproverRule{Kind: k.kind})
		}
	}
	groups, problem, err := s.groupIDs(r, f.Groups)
	if problem != "" || err != nil {
		return nil, problem, err
	}
	for _, g := range groups {
		rules = append(rules, governance.ApproverRule{Kind: governance.ApproverGroup, Group: g})
	}
	users, problem, err := s.ownerIDs(r, f.Users)
	if problem != "" || err != nil {
		return nil, problem, err
	}
	if len(users) > 0 {
		rules = append(rules, governance.ApproverRule{Kind: governance.ApproverUsers, Users: users})
	}
	return rules, "", nil
}

// groupNames are groups' display names, one per line, for a form; an id whose group is gone
// stays as the id.
func (s *Server) groupNames(r *http.Request, ids []string) (string, error) {
	groups, err := s.opts.Access.People.GroupsByID(r.Context(), ids)
	if err != nil {
		return "", err
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if g, ok := groups[id]; ok && g.Name != "" {
			out = append(out, g.Name)
		} else {
			out = append(out, id)
		}
	}
	return strings.Join(out, "\n"), nil
}

// splitLines are a form list's names, one per line; a display name may hold spaces and commas.
func splitLines(raw string) []string {
	var out []string
	for _, line := range strings.Split(raw, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// groupIDs reads a form's list of groups (the IdP's display names, one per line) as ids; a
// name the IdP synced no group under is a problem said in words.
func (s *Server) groupIDs(r *http.Request, raw string) ([]string, string, error) {
	names := splitLines(raw)
	if len(names) > maxOwners {
		return nil, "Name at most 20 groups in a list.", nil
	}
	ids := []string{}
	for _, n := range names {
		if len(n) > maxGroupName {
			return nil, "A group's name is at most 256 characters: write groups by their names as the directory shows them, one per line.", nil
		}
		g, err := s.opts.Access.People.GroupNamed(r.Context(), n)
		if errors.Is(err, governance.ErrNotFound) {
			return nil, "The identity provider has no group called " + strconv.Quote(n) + ": write groups by their names as the directory shows them, one per line.", nil
		}
		if err != nil {
			return nil, "", err
		}
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	return ids, "", nil
}

// maxGroupName bounds a group's name as a form gives it.
const maxGroupName = 256

// maxGroupChoices bounds the groups a form suggests; any other group is typed by its name.
const maxGroupChoices = 500

// groupChoices are the groups a form suggests (a datalist: the browser offers the names
// matching what is typed, without JavaScript).
func (s *Server) groupChoices(r *http.Request) ([]governance.Group, error) {
	groups, _, err := s.opts.Access.People.Groups(r.Context(), 0, maxGroupChoices)
	return groups, err
}
