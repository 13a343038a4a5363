package portal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// catalogReadMaxAge bounds how long a read of the catalog is kept even while its generation
// stands still: a store restored from an older backup can bring the generation back to a
// number already seen, with other items behind it.
const catalogReadMaxAge = 30 * time.Second

// catalogRead is the entitlements and applications as of one catalog generation. Nearly every
// page names access as the catalog does, and reading a catalog of thousands of entitlements
// for each page was most of its render time; the server keeps the last read and reads again
// when the generation has moved (every replica's catalog write raises it, in the write's own
// step) or the read is older than catalogReadMaxAge. It is shared by concurrent requests:
// nothing may change it.
type catalogRead struct {
	generation int64
	at         time.Time
	names      catalogNames
	// entitlements are every entitlement in id order (the catalog page's order);
	// applications every application in creation order.
	entitlements []governance.Entitlement
	applications []governance.Application
	// entitlementsByName and applicationsByName are every id, ordered by name, as a filter's
	// choices list them.
	entitlementsByName, applicationsByName []string
}

// catalogCache holds the server's last catalogRead.
type catalogCache struct {
	mu   sync.Mutex
	last *catalogRead
}

// readCatalog is the catalog's entitlements and applications as of now: the kept read while the
// generation is unchanged, else a new one.
func (s *Server) readCatalog(ctx context.Context) (*catalogRead, error) {
	// The generation is read before the items: a write in between leaves a read that is newer
	// than its number says, which the next request reads again, never one that is older.
	gen, err := s.opts.Access.Catalog.Generation(ctx)
	if err != nil {
		return nil, fmt.Errorf("portal: the catalog's generation: %w", err)
	}
	now := s.opts.Now()
	s.catalogs.mu.Lock()
	last := s.catalogs.last
	s.catalogs.mu.Unlock()
	if last != nil && last.generation == gen && now.Sub(last.at) < catalogReadMaxAge && !now.Before(last.at) {
		return last, nil
	}
	ents, err := governance.ListItems[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement)
	if err != nil {
		return nil, fmt.Errorf("portal: name the entitlements: %w", err)
	}
	apps, err := governance.ListItems[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication)
	if err != nil {
		return nil, fmt.Errorf("portal: name the applications: %w", err)
	}
	slices.SortFunc(ents, func(a, b governance.Entitlement) int { return strings.Compare(a.ID, b.ID) })
	read := &catalogRead{generation: gen, at: now, names: namesOf(ents, apps), entitlements: ents, applications: apps}
	for _, e := range ents {
		read.entitlementsByName = append(read.entitlementsByName, e.ID)
	}
	for _, a := range apps {
		read.applicationsByName = append(read.applicationsByName, a.ID)
	}
	slices.SortFunc(read.entitlementsByName, func(a, b string) int {
		return strings.Compare(read.names.Entitlement(a), read.names.Entitlement(b))
	})
	slices.SortFunc(read.applicationsByName, func(a, b string) int {
		return strings.Compare(read.names.Application(a), read.names.Application(b))
	})
	s.catalogs.mu.Lock()
	if s.catalogs.last == nil || s.catalogs.last.generation <= gen {
		s.catalogs.last = read
	}
	s.catalogs.mu.Unlock()
	return read, nil
}

// catalogNames names entitlements and applications as the catalog does now.
func (s *Server) catalogNames(ctx context.Context) (catalogNames, error) {
	read, err := s.readCatalog(ctx)
	if err != nil {
		return catalogNames{}, err
	}
	return read.names, nil
}

// peopleAndNames reads what a page names: the people by id, and the catalog's names.
func (s *Server) peopleAndNames(ctx context.Context, people []string) (map[string]governance.Person, catalogNames, error) {
	found, err := s.opts.Access.People.Many(ctx, people)
	if err != nil {
		return nil, catalogNames{}, err
	}
	names, err := s.catalogNames(ctx)
	return found, names, err
}
