package portal

import (
	"net/http"
	"net/url"
)

// pages are the links between the pages of a list paged by cursor (the "pages" template of
// the layout): First, "" on the first page, and Next, "" on the last; each the list's URL
// with its filters.
type pages struct{ First, Next string }

// pagesOf links the page read from the cursor after to the first and the next (from next,
// the last row shown, "" when none follow).
func pagesOf(list url.URL, after, next string) pages {
	var p pages
	if after != "" {
		p.First = list.String()
	}
	if next != "" {
		q := list.Query()
		q.Set("after", next)
		list.RawQuery = q.Encode()
		p.Next = list.String()
	}
	return p
}

// firstPage answers a cursor that names no place in the person's list (a row that does not
// exist or is someone else's, alike): the first page, with the list's filters, saying so.
func (s *Server) firstPage(w http.ResponseWriter, r *http.Request, list url.URL) {
	s.flash(r, "error", "That page of the list does not exist. Here is the first page.")
	http.Redirect(w, r, list.String(), http.StatusSeeOther)
}
