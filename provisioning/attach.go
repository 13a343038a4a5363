package provisioning

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// Attaching an application: an admin checks its connector reaches the target, then imports
// what the target can grant as draft entitlements, which nobody can ask for until an admin
// reviews and publishes them. The REST API and the portal both call Attach.

// Errors of attaching an application.
var (
	// ErrRecordOnly: the application names no connector; its grants are records only.
	ErrRecordOnly = errors.New("provisioning: the application has no connector: its grants are records only")
	// ErrConnectorMissing: the application names a connector this gateway has not configured.
	ErrConnectorMissing = errors.New("provisioning: the application's connector is not configured on this gateway")
	// ErrTargetFailed: the connector answered with a failure; the cause follows.
	ErrTargetFailed = errors.New("provisioning: the target system failed")
)

// Attach tests applications' connectors and imports their targets' groups.
type Attach struct {
	Catalog *governance.Catalog
	// Connector answers the connector configured under a name; false when none is.
	Connector func(name string) (connectors.Connector, bool)
}

// ImportResult is how many groups the target has and which were added as drafts.
type ImportResult struct {
	Found    int
	Imported []governance.Entitlement
}

// ConnectorOf reads the application and its configured connector: ErrRecordOnly or
// ErrConnectorMissing when it has none to use.
func (a *Attach) ConnectorOf(ctx context.Context, appID string) (governance.Application, connectors.Connector, error) {
	app, _, err := governance.GetItem[governance.Application](ctx, a.Catalog, governance.KindApplication, appID)
	if err != nil {
		return app, nil, err
	}
	if app.RecordOnly() {
		return app, nil, fmt.Errorf("%w: application %s", ErrRecordOnly, app.ID)
	}
	var conn connectors.Connector
	ok := false
	if a.Connector != nil {
		conn, ok = a.Connector(app.Connector)
	}
	if !ok {
		return app, nil, fmt.Errorf("%w: connector %s", ErrConnectorMissing, app.Connector)
	}
	return app, conn, nil
}

// TestConnection checks the application's connector can reach and use its target.
func (a *Attach) TestConnection(ctx context.Context, appID string) (governance.Application, error) {
	app, conn, err := a.ConnectorOf(ctx, appID)
	if err != nil {
		return app, err
	}
	if err := conn.TestConnection(ctx); err != nil {
		return app, fmt.Errorf("%w: %w", ErrTargetFailed, err)
	}
	return app, nil
}

// Import reads what the target can grant and adds each group the catalog does not have yet as
// a draft entitlement, not requestable, of high risk until an admin reviews it: nobody can ask
// for an import before someone decided what it is. Importing again adds only what is new.
func (a *Attach) Import(ctx context.Context, admin, appID string) (ImportResult, error) {
	app, conn, err := a.ConnectorOf(ctx, appID)
	if err != nil {
		return ImportResult{}, err
	}
	found, err := conn.ListEntitlements(ctx)
	if err != nil {
		return ImportResult{}, fmt.Errorf("%w: %w", ErrTargetFailed, err)
	}
	existing, err := governance.ListItems[governance.Entitlement](ctx, a.Catalog, governance.KindEntitlement)
	if err != nil {
		return ImportResult{}, err
	}
	have := map[string]bool{}
	for _, e := range existing {
		if e.Application == app.ID {
			have[e.Downstream()] = true
		}
	}
	res := ImportResult{Found: len(found), Imported: []governance.Entitlement{}}
	for _, f := range found {
		if have[f.Ref] {
			continue
		}
		e := governance.Entitlement{ID: importedID(app.ID, f.Ref), Name: f.Name, Description: f.Description, Application: app.ID,
			Risk: governance.RiskHigh, State: governance.EntitlementDraft, Holders: governance.HoldersHumans, Resource: f.Ref}
		_, err := a.Catalog.Put(ctx, admin, governance.KindEntitlement, e.ID, 0, e, "imported from connector "+app.Connector)
		if errors.Is(err, governance.ErrVersionMismatch) {
			continue // imported by someone else meanwhile
		}
		if err != nil {
			return res, err
		}
		res.Imported = append(res.Imported, e)
	}
	return res, nil
}

var notInID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// importedID is a catalog id for a target's group: readable where it can be, unique always.
func importedID(app, ref string) string {
	sum := sha256.Sum256([]byte(ref))
	base := strings.Trim(notInID.ReplaceAllString(ref, "-"), "-")
	if len(base) > 60 {
		base = base[:60]
	}
	return app + "." + base + "." + hex.EncodeToString(sum[:3])
}
