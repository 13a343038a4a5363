package redisstore

import "context"

// FacetChunk is how many items a step of a facet build files at most.
const FacetChunk = facetChunk

// FacetStep runs one step of a filtered read of a reviewer's open items, filing up to chunk
// items into their facets; it reports whether the facets were complete (the step answered the
// page). A test stops a build between two steps with it, as a crash or a cancelled read would.
func (s *Store) FacetStep(ctx context.Context, reviewer, facet string, chunk int) (bool, error) {
	res, err := facetPageScript.Run(ctx, s.rdb, s.route, s.prefix, reviewer, facet, "", 1, chunk, "0").Slice()
	if err != nil {
		return false, err
	}
	_, page := res[1].([]any)
	return page, nil
}

// IndexPendingStep is how many changes a step of IndexPendingChanges reads.
const IndexPendingStep = indexPendingStep

// ForgetPendingIndex deletes the index of pending changes, and with marker its built mark too:
// the store as a release from before the index left it.
func (s *Store) ForgetPendingIndex(ctx context.Context, marker bool) error {
	keys := []string{s.prefix + "chgs:pending"}
	if marker {
		keys = append(keys, s.prefix+"chgs:pending:built")
	}
	return s.rdb.Del(ctx, keys...).Err()
}
