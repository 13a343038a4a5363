package governance

import (
	"context"
	"encoding/json"
	"fmt"
)

// Person is what governance needs to know of a user the IdP declared.
type Person struct {
	ID          string
	UserName    string
	GivenName   string
	FamilyName  string
	DisplayName string
	Email       string // the primary email, else the first
	Active      bool
	Manager     string   // the enterprise extension's manager id; "" when none
	Department  string   // the enterprise extension's department; "" when none
	Groups      []string // ids of the groups it is a direct member of
}

// People reads persons and groups from the identity store: the IdP is the authority on who
// exists, who is active, who manages whom and who is in which group.
type People struct{ Store IdentityStore }

var _ Directory = (*People)(nil)

type userDocument struct {
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Name        struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Emails []struct {
		Value   string `json:"value"`
		Primary bool   `json:"primary"`
	} `json:"emails"`
	Active     *bool `json:"active"`
	Enterprise struct {
		Manager struct {
			Value string `json:"value"`
		} `json:"manager"`
		Department string `json:"department"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

// Person returns a user; ErrNotFound when the IdP declared none with that id.
func (p *People) Person(ctx context.Context, id string) (Person, error) {
	r, err := p.Store.Get(ctx, KindUser, id, ReadOptions{})
	if err != nil {
		return Person{}, fmt.Errorf("governance: user %s: %w", id, err)
	}
	return personOf(r)
}

// Many reads several users at once, by id; ids that are not users are left out.
func (p *People) Many(ctx context.Context, ids []string) (map[string]Person, error) {
	found, err := p.Store.GetMany(ctx, KindUser, ids, ReadOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Person, len(found))
	for _, r := range found {
		person, err := personOf(r)
		if err != nil {
			return nil, err
		}
		out[r.ID] = person
	}
	return out, nil
}

// Departed is a user the IdP deleted, as it last was (inactive), while the store keeps it.
func (p *People) Departed(ctx context.Context, id string) (Person, error) {
	r, err := p.Store.Departed(ctx, id)
	if err != nil {
		return Person{}, fmt.Errorf("governance: departed user %s: %w", id, err)
	}
	person, err := personOf(r)
	person.Active = false
	return person, err
}

// ByUserName finds a user by userName, as an authenticated principal names itself.
func (p *People) ByUserName(ctx context.Context, userName string) (Person, error) {
	found, err := p.Store.FindUnique(ctx, KindUser, userName, ReadOptions{})
	if err != nil {
		return Person{}, err
	}
	if len(found) != 1 {
		return Person{}, fmt.Errorf("governance: user %q: %w", userName, ErrNotFound)
	}
	return personOf(found[0])
}

func personOf(r Resource) (Person, error) {
	var doc userDocument
	if err := json.Unmarshal(r.Document, &doc); err != nil {
		return Person{}, fmt.Errorf("governance: user %s document: %w", r.ID, err)
	}
	p := Person{ID: r.ID, UserName: doc.UserName, GivenName: doc.Name.GivenName, FamilyName: doc.Name.FamilyName,
		DisplayName: doc.DisplayName, Active: doc.Active == nil || *doc.Active, Manager: doc.Enterprise.Manager.Value,
		Department: doc.Enterprise.Department}
	for _, e := range doc.Emails {
		if p.Email == "" || e.Primary {
			p.Email = e.Value
		}
	}
	for _, g := range r.MemberOf {
		p.Groups = append(p.Groups, g.ID)
	}
	return p, nil
}

// Party is the person as a party to a request.
func (p Person) Party() Party { return Party{ID: p.ID, Active: p.Active} }

func (p *People) Manager(ctx context.Context, userID string) (string, error) {
	person, err := p.Person(ctx, userID)
	if err != nil {
		return "", err
	}
	return person.Manager, nil
}

func (p *People) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	g, err := p.Store.Get(ctx, KindGroup, groupID, ReadOptions{Members: true})
	if err != nil {
		return nil, fmt.Errorf("governance: group %s: %w", groupID, err)
	}
	out := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		if m.Kind == KindUser {
			out = append(out, m.ID)
		}
	}
	return out, nil
}

// Group is a group the IdP synced, as an admin picks it: its id and its display name.
type Group struct{ ID, Name string }

func groupOf(r Resource) (Group, error) {
	var doc struct {
		DisplayName string `json:"displayName"`
	}
	if err := json.Unmarshal(r.Document, &doc); err != nil {
		return Group{}, fmt.Errorf("governance: group %s document: %w", r.ID, err)
	}
	return Group{ID: r.ID, Name: doc.DisplayName}, nil
}

// GroupNamed finds the group whose display name is name (compared as names are, the way the
// IdP's display names are unique); ErrNotFound when the IdP synced none.
func (p *People) GroupNamed(ctx context.Context, name string) (Group, error) {
	found, err := p.Store.FindUnique(ctx, KindGroup, name, ReadOptions{})
	if err != nil {
		return Group{}, err
	}
	if len(found) != 1 {
		return Group{}, fmt.Errorf("governance: group %q: %w", name, ErrNotFound)
	}
	return groupOf(found[0])
}

// GroupsByID reads several groups at once; ids that are not groups are left out.
func (p *People) GroupsByID(ctx context.Context, ids []string) (map[string]Group, error) {
	found, err := p.Store.GetMany(ctx, KindGroup, ids, ReadOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Group, len(found))
	for _, r := range found {
		g, err := groupOf(r)
		if err != nil {
			return nil, err
		}
		out[g.ID] = g
	}
	return out, nil
}

// Groups lists up to count groups in the order the IdP created them, from offset, and how many
// there are.
func (p *People) Groups(ctx context.Context, offset, count int) ([]Group, int, error) {
	page, err := p.Store.List(ctx, KindGroup, offset, count, ReadOptions{})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Group, 0, len(page.Resources))
	for _, r := range page.Resources {
		g, err := groupOf(r)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, g)
	}
	return out, page.Total, nil
}
