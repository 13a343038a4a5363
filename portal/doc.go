// Package portal is Gatehouse's web portal: server-rendered pages (html/template, assets
// embedded) where people ask for access, follow their requests, approve, review and
// administer. It calls the same governance services as the REST API and holds no rule of its
// own: who may see what is the services' (a method that takes a governance.Viewer answers
// governance.ErrNotFound for what the viewer may not see), and every decision is the domain's.
//
// # Sign-in and sessions
//
// People sign in at the organisation's OpenID Connect provider (authorization code with PKCE,
// state and nonce kept in the session), mapped to their SCIM user by governance.People.SignIn,
// exactly as the API maps bearer tokens; in demo mode through portal/demoidp, served by the
// same process. Sessions live in Redis (a SessionStore: redisstore.Store.Sessions) behind an
// opaque cookie (HttpOnly, SameSite=Lax, Secure unless the portal is plain http on loopback);
// the token is renewed at sign-in; sign-out deletes the session. The session keeps the person's
// id, when they signed in and when they were last seen, on Options.Now: on every request
// whoIsIt ends a session past Options.IdleTimeout unused or Options.Lifetime since sign-in
// (deleted; the request goes on as not signed in, so a page that needs a person sends them to
// /?signin=idle or /?signin=expired, and the front door says why), reads the person afresh (a
// deactivated or deleted person is signed out at once) and their roles from their groups
// (governance.RoleGroups). The session manager's own timeouts, on the wall clock, are an hour
// longer: they only let Redis forget. The store is handed the person of each session
// (sessionCodec puts their id in front of the data), so it indexes a person's sessions and
// keeps none of someone who left: the leaver duty deletes them all (governance.SessionEnder).
//
// # Conventions for pages
//
// One file per area, with its templates named after it: catalog.go (templates/catalog.html,
// entry.html), requests.go (requests.html, request.html), access.go (access*.html),
// approvals.go (approvals*.html), reviews.go (reviews*.html: a reviewer's items), campaigns.go
// (campaigns*.html: the admins' campaigns, under /reviews/campaigns and /reviews/cycles), and
// next admin.go, security.go, audit.go, each with templates/<area>*.html. Every route is in
// routes() (portal.go), one line each, so the table shows who may reach what:
//
//   - s.signedIn(h) serves h(w, r, sess) to a signed-in person, and sends anyone else to sign
//     in. sess.Person is the person, sess.Roles their roles, sess.Viewer what to pass to the
//     services; never build a Viewer by hand.
//   - s.holding(role, h) serves h only to holders of role; to anyone else the page does not
//     exist (s.notFound), exactly like a missing id, so a URL reveals nothing; s.holdingAny(roles,
//     h) for an area several roles open (campaigns: catalog and security admins; audit:
//     auditors and security admins). nav() in render.go lists an area only for those holding
//     its role: add the link there too.
//   - A record of someone else is asked for through the service's ...For(ctx, id, sess.Viewer)
//     method; its governance.ErrNotFound goes to s.fail, which answers the not-found page.
//
// Rendering: s.page(w, r, status, view, title, data) renders templates/<view>.html inside
// templates/common/layout.html (the "base" template: skip link, header, nav, main, footer,
// the flash message, the demo banner). A view defines "content"; the layout gives it
// .Session, .Demo and .Data (the handler's data). A request from htmx (HX-Request: true) gets
// "content" alone, so the same handler serves the page and the fragment that replaces the
// layout's #content region, below the page's h1 (hx-target="#content"; the catalog's filter
// form is the example). Answers vary on HX-Request, and a history restore
// (HX-History-Restore-Request) gets the whole page. A region swapped on its own is a named
// template in the view's file, rendered the same way.
//
// Words on pages: access and applications are named as the catalog names them (s.catalogNames,
// from the read the server keeps while the catalog's generation stands still: catalogread.go,
// ADR 0037), never by id, outside the audit area, whose records are ids by design; durations
// are said in words (spoken: "8 hours") and put in a form's field as one types them (typed:
// "8h", "30d"); times are shown with date, in UTC to the minute; where a record stands is said
// with said (words.go: "being removed", not the domain's "revoking"), the state word itself
// kept in the class name; the audit area shows the records' own words. A deadline is chosen as
// a day (a date field bounded by min and max, as the service bounds it), and means the start of
// that day in UTC: a service account's, at its registration and on My access.
//
// State changes are POST only, each a plain HTML form that works without JavaScript; htmx
// (static/htmx.min.js, configured by the htmx-config meta tag in the layout: no eval, no
// script tags, same-origin requests only) only enhances. A handler that changes state reads
// the form with s.form (bodies are capped), calls the service, keeps the outcome for the next
// page with s.flash(r, "info"|"error", message), and redirects with 303 See Other
// (POST-redirect-GET). Domain errors are translated in the handler into a sentence the person
// can act on; anything unexpected goes to s.fail, which logs the cause and shows a plain page.
// GET never changes anything: http.CrossOriginProtection lets GET through unchecked.
//
// Pages: no inline script, no style attribute, no event-handler attribute (the CSP forbids
// them); classes from static/gatehouse.css. Forms label every control; tables have a caption
// and th scope; a status message uses role="status", an error role="alert".
//
// Lists are paged by cursor: a page link carries ?after=<the last id shown>, never an offset,
// and the service reads the next page from there, so a list that grows while someone reads it
// neither skips nor repeats a row. The links are plain ("Next page", and "First page" from
// the second on: the layout's "pages" template, fed by pagesOf with the list's URL and its
// filters), and a page says how many rows the list holds where that is cheap. My access
// orders a person's grants (and their service accounts') by creation, so ?after=<grant id>
// holds as grants are added. The approvals inbox (50 a page, oldest first: who has waited
// longest comes first) and My requests (50 a page, newest first: the request a person follows
// is usually their last) page through governance.Access.Inbox and RequestsFor, whose cursor is
// a request id read as a place (its creation time and id), so it holds even once that request
// has left the list; a cursor naming no request of the person's list, whether it does not
// exist or is someone else's, goes to the first page with a flash saying so (firstPage), as
// My reviews does. The catalog (50 a page) is in id order, filters kept in its links: ids are
// never reused, so any cursor is a place, and one naming nothing shows what follows it. My
// reviews shows 100 items a page (?after=<item id>). The admin area's applications,
// entitlements, approval policies and SoD rules show 50 a page (?after=<item id>,
// governance.PageItems: catalog items are never deleted and keep their place in creation
// order), though the applications page still counts drafts over every entitlement; the
// campaigns are read whole; the audit search pages from a trail position. The admins' start
// shows the pending catalog changes an admin has to do with (theirs, and those awaiting their
// approval), 50 a page, oldest first (?after=<change id>, governance.Catalog.PendingFor: a
// change id read as a place, its creation time and id, so it holds once that change is
// decided; one naming no change goes to the first page, firstPage). That page, the count on a
// catalog or security admin's home and an item's page read the pending changes only, never
// the decided ones (docs/adr/0036).
//
// A form with repeated parts works without JavaScript (admin_forms.go): a list of people or
// groups is a textarea, one user name or group display name per line, read back as ids (a
// name nobody has is said so); a list of stages shows those there are and one blank, and "Add
// another stage" is a plain submit that shows the form again as typed, with one more blank
// stage, saving nothing. A group is always chosen by the name the directory shows, never by
// id; a single group field suggests the synced groups (a datalist).
//
// A change to many records at once (a bulk review decision) is shown before it is made: the
// form POSTs to a preview that changes nothing and lists what the change covers, with a
// confirming form that sends exactly those ids; the service then answers each on its own.
//
// # Tests
//
// The tests drive the portal over HTTP against the test Redis (harness_test.go): setup builds
// the services on a fresh namespace with a small cast (ada and bob, managed by mgr; cat and
// dee, catalog admins; sec and sue, security admins; aud, an auditor; gone, deactivated), a
// catalog, and fake connectors; withMockIdP signs people in through a mock OpenID Connect
// provider (env.signIn); the clock stands still unless a test moves it (env.advance); a browser
// keeps its cookies and follows redirects by hand; browser.post sends a form as the portal's
// own page would (Sec-Fetch-Site: same-origin). Each page gets, beside its happy path, the
// person it is not for (the not-found page, compared with a missing id's), a cross-site POST
// (refused, nothing changed) and the domain's refusals shown as a flash.
//
// portal/scenarios drives the pages in a real browser against the real gateway binary
// (internal/browsertest): what a person does, with Axe and Screenshots on every page passed.
package portal
