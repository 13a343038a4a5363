package provisioning_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/ldap"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
)

// Attaching the directory: its connection passes, a group the catalog lacks is imported once
// as a draft nobody can ask for, and a second import adds nothing.
func TestAttachTestsAndImportsOnce(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	add := goldap.NewAddRequest("cn=auditors,"+r.groups, nil)
	add.Attribute("objectClass", []string{"groupOfNames"})
	add.Attribute("cn", []string{"auditors"})
	add.Attribute("member", []string{"cn=nobody"})
	if err := r.admin().Add(add); err != nil {
		t.Fatal(err)
	}
	a := &provisioning.Attach{Catalog: r.access.Catalog, Connector: r.worker.Connector}
	if app, err := a.TestConnection(ctx, "dir"); err != nil || app.ID != "dir" {
		t.Fatalf("the directory's connection: %+v %v", app, err)
	}
	res, err := a.Import(ctx, "cat1", "dir")
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 4 || len(res.Imported) != 1 {
		t.Fatalf("import: found %d, imported %+v", res.Found, res.Imported)
	}
	e := res.Imported[0]
	stored, _, err := governance.GetItem[governance.Entitlement](ctx, r.access.Catalog, governance.KindEntitlement, e.ID)
	if err != nil || stored.State != governance.EntitlementDraft || stored.Visible() || stored.Risk != governance.RiskHigh || stored.Downstream() != "auditors" {
		t.Fatalf("the imported entitlement: %+v %v", stored, err)
	}
	if again, err := a.Import(ctx, "cat1", "dir"); err != nil || len(again.Imported) != 0 {
		t.Fatalf("a second import: %+v %v", again, err)
	}
}

// An application without a connector, one whose connector is not configured, and a target that
// refuses are each told apart, and nothing is imported from them.
func TestAttachSaysWhyItCannot(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.put(governance.KindApplication, "paper", governance.Application{ID: "paper", Name: "Paper forms", Owners: []string{"mgr"}})
	r.put(governance.KindApplication, "elsewhere", governance.Application{ID: "elsewhere", Name: "Elsewhere", Owners: []string{"mgr"}, Connector: "nowhere"})
	r.put(governance.KindApplication, "locked", governance.Application{ID: "locked", Name: "Locked", Owners: []string{"mgr"}, Connector: "locked"})
	refused, err := ldap.New(ldap.Config{URL: slapd.URL(), BindDN: "cn=admin,dc=nowhere", Password: "wrong", UserBase: r.people, GroupBase: r.groups})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refused.Close)
	a := &provisioning.Attach{Catalog: r.access.Catalog, Connector: func(name string) (connectors.Connector, bool) {
		if name == "locked" {
			return refused, true
		}
		return r.worker.Connector(name)
	}}
	for app, want := range map[string]error{"paper": provisioning.ErrRecordOnly, "elsewhere": provisioning.ErrConnectorMissing,
		"locked": provisioning.ErrTargetFailed, "missing": governance.ErrNotFound} {
		if _, err := a.TestConnection(ctx, app); !errors.Is(err, want) {
			t.Errorf("testing %s: %v, want %v", app, err, want)
		}
		if _, err := a.Import(ctx, "cat1", app); !errors.Is(err, want) {
			t.Errorf("importing %s: %v, want %v", app, err, want)
		}
	}
	ents, err := governance.ListItems[governance.Entitlement](ctx, r.access.Catalog, governance.KindEntitlement)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Application != "dir" {
			t.Errorf("imported from an application that failed: %+v", e)
		}
	}
	if _, err := a.TestConnection(ctx, "locked"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a refused bind's error carries the password: %v", err)
	}
}
