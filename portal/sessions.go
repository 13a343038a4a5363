package portal

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
)

// SessionStore keeps sessions server-side (redisstore.Store.Sessions), each under the person it
// signs in, so that the leaver duty can end a person's sessions (governance.SessionEnder).
type SessionStore interface {
	// Find answers a live session's data; an unknown or expired token is not found.
	Find(ctx context.Context, token string) ([]byte, bool, error)
	// Commit writes a session of person ("" before sign-in) until expiry. A session of a
	// person who is no longer active is not kept, so a sign-in or a request that raced the
	// leaver duty leaves nothing behind.
	Commit(ctx context.Context, token, person string, b []byte, expiry time.Time) error
	// Delete ends a session; an unknown token is no error.
	Delete(ctx context.Context, token string) error
}

// sessionStore is a SessionStore as the session manager takes it (scs.CtxStore): it reads the
// person from the front of the data sessionCodec encodes.
type sessionStore struct{ store SessionStore }

var _ scs.CtxStore = sessionStore{}

func (s sessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	return s.store.Find(ctx, token)
}

func (s sessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	person, _, _ := bytes.Cut(b, personEnd)
	return s.store.Commit(ctx, token, string(person), b, expiry)
}

func (s sessionStore) DeleteCtx(ctx context.Context, token string) error {
	return s.store.Delete(ctx, token)
}

// Find, Commit and Delete are the context-free forms the store interface also asks for; the
// session manager calls the Ctx forms.
func (s sessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

func (s sessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

func (s sessionStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// personEnd ends the person's id at the front of a session's data (ids hold no newline).
var personEnd = []byte{'\n'}

// sessionCodec is the session manager's gob encoding behind the signed-in person's id ("" before
// sign-in), so the store learns whose session it writes without decoding it.
type sessionCodec struct{}

func (sessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	b, err := scs.GobCodec{}.Encode(deadline, values)
	if err != nil {
		return nil, err
	}
	person, _ := values[keyUser].(string)
	return append(append([]byte(person), personEnd...), b...), nil
}

func (sessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	_, data, ok := bytes.Cut(b, personEnd)
	if !ok {
		return time.Time{}, nil, errors.New("portal: a stored session without its person")
	}
	return scs.GobCodec{}.Decode(data)
}

// backstop is how long the session manager keeps a session past the portal's own timeouts. The
// portal checks its timeouts on its clock at every request; the session manager's, on the wall
// clock, only make Redis forget the session. Kept a while longer, a session that timed out is
// still found, so the person is told why they must sign in again.
const backstop = time.Hour

// Why someone is sent to sign in, as the front door's address says it (/?signin=...): a page
// needs a signed-in person, or their session ended.
const (
	signInRequired = "required"
	endedIdle      = "idle"
	endedLifetime  = "expired"
)

// ended says why the signed-in session in ctx has ended at now, "" while it may go on: unused
// for the idle timeout, or the lifetime after sign-in, used or not.
func (s *Server) ended(ctx context.Context, now time.Time) string {
	switch {
	case !now.Before(time.Unix(0, s.sessions.GetInt64(ctx, keySignedIn)).Add(s.opts.Lifetime)):
		return endedLifetime
	case !now.Before(time.Unix(0, s.sessions.GetInt64(ctx, keySeen)).Add(s.opts.IdleTimeout)):
		return endedIdle
	}
	return ""
}

type endedKey struct{}

// endedOr is why the request's session ended as it came in (its timeouts), or otherwise if it
// did not: the request goes on as anyone's not signed in, and a page that needs a person says
// why.
func endedOr(r *http.Request, otherwise string) string {
	if why, _ := r.Context().Value(endedKey{}).(string); why != "" {
		return why
	}
	return otherwise
}

// signInPage is the front door's address saying why: one of three, whatever it is asked.
func signInPage(why string) string {
	switch why {
	case endedIdle:
		return "/?signin=" + endedIdle
	case endedLifetime:
		return "/?signin=" + endedLifetime
	}
	return "/?signin=" + signInRequired
}

// signedOutNotice is what the front door says to someone sent to sign in (/?signin=...).
func (s *Server) signedOutNotice(why string) string {
	switch why {
	case signInRequired:
		return "Sign in to continue."
	case endedIdle:
		return "You were signed out after " + spoken(s.opts.IdleTimeout) + " without activity. Sign in to continue."
	case endedLifetime:
		return "You were signed out " + spoken(s.opts.Lifetime) + " after signing in, as everyone is. Sign in to continue."
	}
	return ""
}
