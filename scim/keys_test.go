package scim

import (
	"slices"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// The department is indexed as names compare, so that "R&D" and "r&d" are one department; a
// user without one, or with one that is not a string, has no department entry.
func TestKeysIndexTheDepartment(t *testing.T) {
	for _, c := range []struct {
		ext  any
		want bool
	}{
		{map[string]any{"department": "R&D"}, true},
		{map[string]any{"department": ""}, false},
		{map[string]any{"department": 3}, false},
		{"R&D", false},
		{nil, false},
	} {
		doc := map[string]any{"userName": "ada"}
		if c.ext != nil {
			doc[enterpriseSchemaID] = c.ext
		}
		keys := userKind.keys(doc)
		has := slices.Contains(keys.Lookups, governance.DepartmentLookup("r&d"))
		if has != c.want {
			t.Errorf("%v: department indexed %v, want %v (%+v)", c.ext, has, c.want, keys.Lookups)
		}
	}
}
