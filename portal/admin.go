package portal

import (
	"net/http"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// admin is the catalog admins' start: the catalog changes that wait for a second admin, the
// ones proposed by someone else first, since only those can this admin approve.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, sess *Session) {
	pending, err := s.opts.Access.Catalog.Changes(r.Context(), governance.ChangePending)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var v struct{ Mine, Others []governance.CatalogChange }
	for _, c := range pending {
		if c.ProposedBy == sess.Person.ID {
			v.Mine = append(v.Mine, c)
		} else {
			v.Others = append(v.Others, c)
		}
	}
	s.page(w, r, http.StatusOK, "admin", "Admin", v)
}
