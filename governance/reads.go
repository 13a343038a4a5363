package governance

import "context"

// Reads the adapters serve as they are: every viewer allowed to call them sees all of it (the
// adapter checks the role), so they take no Viewer.

// Changes lists the catalog changes, oldest first; state, when set, keeps those in it.
func (s *Catalog) Changes(ctx context.Context, state ChangeState) ([]CatalogChange, error) {
	all, err := s.Store.CatalogChanges(ctx)
	if err != nil || state == "" {
		return all, err
	}
	shown := all[:0]
	for _, ch := range all {
		if ch.State == state {
			shown = append(shown, ch)
		}
	}
	return shown, nil
}

// Change reads one catalog change.
func (s *Catalog) Change(ctx context.Context, id string) (CatalogChange, error) {
	return s.Store.CatalogChange(ctx, id)
}
