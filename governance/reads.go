package governance

import (
	"context"
	"errors"
	"iter"
)

// Reads the adapters serve as they are: every viewer allowed to call them sees all of it (the
// adapter checks the role), so they take no Viewer.

// ChangePage is a page of catalog changes, oldest first; Next is the cursor of the page after
// (a change id, "" at the end).
type ChangePage struct {
	Items []CatalogChange
	Next  string
}

// changeStep is how many changes a walk reads from the store at a time.
const changeStep = 100

// changeScan bounds the changes one page of the history reads while filtering by state, so a
// rare state over a long history answers a short page and a cursor rather than walking the
// whole history in one call.
const changeScan = 1000

// Changes lists up to limit catalog changes after the change after ("": from the first),
// oldest first; state, when set, keeps those in it. The pending ones are read apart from the
// history (CatalogStore.PendingChanges), so a page of them costs the same however many changes
// were ever decided. Any other state, or all, walks the history, at most changeScan changes a
// call: a page may hold fewer than limit, with a cursor to go on. A cursor naming no change is
// ErrNoSuchPage; one naming a change that has left the list (decided since) is its place.
func (s *Catalog) Changes(ctx context.Context, state ChangeState, after string, limit int) (ChangePage, error) {
	from, err := s.changePosition(ctx, after)
	if err != nil {
		return ChangePage{}, err
	}
	read := s.Store.CatalogChangesPage
	if state == ChangePending {
		read = s.Store.PendingChanges
	}
	out := ChangePage{Items: []CatalogChange{}}
	if limit < 1 {
		return out, nil
	}
	scanned := 0
	for c, err := range walkChanges(ctx, read, from) {
		if err != nil {
			return ChangePage{}, err
		}
		scanned++
		if state == "" || c.State == state {
			if len(out.Items) == limit {
				out.Next = out.Items[limit-1].ID
				break
			}
			out.Items = append(out.Items, c)
		}
		if scanned == changeScan {
			out.Next = c.ID
			break
		}
	}
	return out, nil
}

// PendingFor lists up to limit of the pending changes admin has to do with, after the change
// after ("": from the first), oldest first: those awaiting their decision (Awaits) and their
// own, which they may withdraw. It reads the pending changes only, never the history.
func (s *Catalog) PendingFor(ctx context.Context, admin string, roles []Role, after string, limit int) (ChangePage, error) {
	from, err := s.changePosition(ctx, after)
	if err != nil {
		return ChangePage{}, err
	}
	out := ChangePage{Items: []CatalogChange{}}
	if limit < 1 {
		return out, nil
	}
	for c, err := range walkChanges(ctx, s.Store.PendingChanges, from) {
		if err != nil {
			return ChangePage{}, err
		}
		if c.State != ChangePending || !c.Awaits(admin, roles) && c.ProposedBy != admin {
			continue
		}
		if len(out.Items) == limit {
			out.Next = out.Items[limit-1].ID
			break
		}
		out.Items = append(out.Items, c)
	}
	return out, nil
}

// Awaiting counts the pending changes awaiting admin's decision (Awaits). It reads every
// pending change, and only those: which of them await a person depends on who proposed each
// and its kind, so a count kept by the store would not do. Pending changes are few by nature
// (each waits for a second admin, and leaves the list when decided), but they do not expire:
// the cost of this count grows with the changes left undecided, never with the history.
func (s *Catalog) Awaiting(ctx context.Context, admin string, roles []Role) (int, error) {
	n := 0
	for c, err := range walkChanges(ctx, s.Store.PendingChanges, ChangePosition{}) {
		if err != nil {
			return 0, err
		}
		if c.Awaits(admin, roles) {
			n++
		}
	}
	return n, nil
}

// PendingOf lists the pending changes of one item, oldest first, read from the pending
// changes only, as Awaiting reads them: an item's page shows them.
func (s *Catalog) PendingOf(ctx context.Context, kind CatalogKind, id string) ([]CatalogChange, error) {
	var out []CatalogChange
	for c, err := range walkChanges(ctx, s.Store.PendingChanges, ChangePosition{}) {
		if err != nil {
			return nil, err
		}
		if c.Kind == kind && c.Target == id && c.State == ChangePending {
			out = append(out, c)
		}
	}
	return out, nil
}

// changePosition is where a page after the change after starts ("": the first page). Any
// change is a place in every list of changes, whatever its state; an id naming none is
// ErrNoSuchPage.
func (s *Catalog) changePosition(ctx context.Context, after string) (ChangePosition, error) {
	if after == "" {
		return ChangePosition{}, nil
	}
	c, err := s.Store.CatalogChange(ctx, after)
	if errors.Is(err, ErrNotFound) {
		return ChangePosition{}, ErrNoSuchPage
	}
	if err != nil {
		return ChangePosition{}, err
	}
	return c.Position(), nil
}

// walkChanges yields the changes a paged read lists from the position from on, changeStep at
// a time, until the list ends or the caller stops.
func walkChanges(ctx context.Context, read func(context.Context, ChangePosition, int) ([]CatalogChange, error), from ChangePosition) iter.Seq2[CatalogChange, error] {
	return func(yield func(CatalogChange, error) bool) {
		for {
			page, err := read(ctx, from, changeStep)
			if err != nil {
				yield(CatalogChange{}, err)
				return
			}
			for _, c := range page {
				if !yield(c, nil) {
					return
				}
			}
			if len(page) < changeStep {
				return
			}
			from = page[len(page)-1].Position()
		}
	}
}

// Change reads one catalog change.
func (s *Catalog) Change(ctx context.Context, id string) (CatalogChange, error) {
	return s.Store.CatalogChange(ctx, id)
}
