package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// visibleEntitlement hides what requesters may not ask for: drafts, retired and unrequestable
// entitlements are for admins and auditors only.
func visibleEntitlement(e governance.Entitlement, p Principal) bool {
	return e.Visible() || p.Has(RoleCatalogAdmin) || p.Has(RoleSecurityAdmin) || p.Has(RoleAuditor)
}

func listItems[T any](s *Server, kind governance.CatalogKind, visible func(T, Principal) bool) func(*gin.Context, Principal) {
	return func(c *gin.Context, p Principal) {
		all, err := governance.ListItems[T](c.Request.Context(), s.opts.Access.Catalog, kind)
		if err != nil {
			s.fail(c, err)
			return
		}
		if visible != nil {
			shown := all[:0]
			for _, v := range all {
				if visible(v, p) {
					shown = append(shown, v)
				}
			}
			all = shown
		}
		slicePage(c, all)
	}
}

func getItem[T any](s *Server, kind governance.CatalogKind, visible func(T, Principal) bool) func(*gin.Context, Principal) {
	return func(c *gin.Context, p Principal) {
		v, version, err := governance.GetItem[T](c.Request.Context(), s.opts.Access.Catalog, kind, c.Param("id"))
		if err == nil && visible != nil && !visible(v, p) {
			err = governance.ErrNotFound
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Header("ETag", etag(version))
		c.JSON(http.StatusOK, v)
	}
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch reads the version an If-Match header names (0 when there is none); it answers the
// problem itself and reports false for a tag this API did not give.
func ifMatch(c *gin.Context) (int64, bool) {
	match := c.GetHeader("If-Match")
	if match == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(strings.Trim(match, `"`), 10, 64)
	if err != nil || n < 1 {
		problem(c, http.StatusBadRequest, "invalid-header", `If-Match must be an ETag this API gave, like "3"`)
		return 0, false
	}
	return n, true
}

// putItem creates (POST to the collection, the id in the body) or replaces (PUT, If-Match
// required) an item. A PUT without If-Match still creates, deprecated. A change that needs a
// second admin answers 202 with the proposed change, whatever the verb.
func putItem[T any](s *Server, kind governance.CatalogKind, create bool) func(*gin.Context, Principal) {
	return func(c *gin.Context, p Principal) {
		if !curator(c, p) {
			return
		}
		var v T
		if !readJSON(c, &v) {
			return
		}
		raw, _ := json.Marshal(v)
		var named struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &named)
		var ifVersion int64
		if !create {
			if named.ID != c.Param("id") {
				problem(c, http.StatusBadRequest, "invalid-body", "the body's id must be the id in the path")
				return
			}
			var ok bool
			if ifVersion, ok = ifMatch(c); !ok {
				return
			}
			if ifVersion == 0 {
				deprecated(c) // creating with PUT: POST to the collection creates
			}
		}
		res, err := s.opts.Access.Catalog.Put(c.Request.Context(), p.Actor(), kind, named.ID, ifVersion, v, c.GetHeader("X-Change-Reason"))
		if err != nil {
			s.fail(c, err)
			return
		}
		if res.Change != nil {
			c.Header("Location", Prefix+"/catalog-changes/"+res.Change.ID)
			c.JSON(http.StatusAccepted, res.Change)
			return
		}
		status := http.StatusOK
		if res.Item.Version == 1 {
			status = http.StatusCreated
			location := c.Request.URL.Path
			if create {
				location += "/" + named.ID
			}
			c.Header("Location", location)
		}
		c.Header("ETag", etag(res.Item.Version))
		c.Data(status, "application/json; charset=utf-8", res.Item.Body)
	}
}

// listChanges lists catalog changes, oldest first, in one state or all. The cursor is the last
// change the page before read, a place in creation order, so changes proposed or decided
// between two pages neither shift nor repeat one; ?state=pending reads the pending changes
// only, whatever the length of the history.
func (s *Server) listChanges(c *gin.Context, _ Principal) {
	state, ok := oneOf(c, "state", governance.ChangeStates...)
	if !ok {
		return
	}
	n, ok := limit(c)
	if !ok {
		return
	}
	after, ok := decodeCursor(c)
	if !ok {
		return
	}
	got, err := s.opts.Access.Catalog.Changes(c.Request.Context(), state, after, n)
	if errors.Is(err, governance.ErrNoSuchPage) {
		problem(c, http.StatusBadRequest, "invalid-parameter", "cursor is not one this API gave")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[governance.CatalogChange]{Items: got.Items, NextCursor: encodeNext(got.Next)})
}

type comment struct {
	Comment string `json:"comment"`
}

// curator answers 403 to a principal that is not a person. The catalog's two-admin rule counts
// people: two API tokens of one person, or two service tokens, must not pass for two admins.
func curator(c *gin.Context, p Principal) bool {
	if p.User == nil {
		problem(c, http.StatusForbidden, "not-a-person",
			"catalog changes are made and approved by people: bind this API token to a user (api.tokens[].user), or sign in")
		return false
	}
	return true
}

// decideChange approves or rejects a proposed change. SoD rules are the security admins'; the
// rest of the catalog is the catalog admins'.
func (s *Server) decideChange(approve bool) func(*gin.Context, Principal) {
	return func(c *gin.Context, p Principal) {
		if !curator(c, p) {
			return
		}
		var body comment
		if c.Request.ContentLength != 0 && !readJSON(c, &body) {
			return
		}
		ctx := c.Request.Context()
		change, err := s.opts.Access.Catalog.Change(ctx, c.Param("id"))
		if err != nil {
			s.fail(c, err)
			return
		}
		need := change.Kind.DecidedBy()
		if !p.Has(need) {
			problem(c, http.StatusForbidden, "forbidden", "changes to a "+string(change.Kind)+" are decided by a "+string(need))
			return
		}
		decide := s.opts.Access.Catalog.Reject
		if approve {
			decide = s.opts.Access.Catalog.Approve
		}
		change, err = decide(ctx, change.ID, p.Actor(), body.Comment)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, change)
	}
}
