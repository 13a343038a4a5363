package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// Sign-in maps a person an identity provider authenticated (the claims of a verified OpenID
// Connect ID token) to the user the same provider declared over SCIM. Every adapter that signs
// people in (the API's bearer tokens, the portal's authorization-code flow) maps through
// People.SignIn, so one token names one person wherever it is used.

// The SCIM user attributes a sign-in claim can be matched against.
const (
	// MatchExternalID compares the claim exactly with externalId: the IdP's own, immutable id
	// for the user. The default.
	MatchExternalID = "externalId"
	// MatchUserName compares the claim with userName under names.Fold.
	MatchUserName = "userName"
	// MatchEmails compares the claim with every emails.value under names.Fold.
	MatchEmails = "emails"
)

// SignInMapping says which claim of a verified ID token names the user, and which attribute of
// the SCIM user it equals.
type SignInMapping struct {
	// Claim is the token's claim; "sub" when empty.
	Claim string
	// Attribute is MatchExternalID (when empty), MatchUserName or MatchEmails.
	Attribute string
}

// ErrSignInRefused is a verified token that names nobody who may act; the error is a
// *SignInError that says why.
var ErrSignInRefused = errors.New("governance: sign-in refused")

// SignInError says why a verified token names nobody who may act.
type SignInError struct {
	// Reason is written for the person signing in: it names the claim and what to fix.
	Reason string
}

func (e *SignInError) Error() string { return ErrSignInRefused.Error() + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrSignInRefused) match.
func (e *SignInError) Unwrap() error { return ErrSignInRefused }

func refused(format string, args ...any) error {
	return &SignInError{Reason: fmt.Sprintf(format, args...)}
}

// SignIn finds the active person that claims name. The claims must come from a token whose
// signature, issuer, audience and expiry the caller has verified; SignIn decides only who the
// token names. An email address (the email claim, or any claim whose value holds an @) names
// its holder only when the token says the address is verified, since an address is what an
// attacker can most easily put in a profile at a provider that does not check it.
func (p *People) SignIn(ctx context.Context, m SignInMapping, claims map[string]any) (Person, error) {
	if m.Claim == "" {
		m.Claim = "sub"
	}
	if m.Attribute == "" {
		m.Attribute = MatchExternalID
	}
	value, _ := claims[m.Claim].(string)
	if value == "" {
		return Person{}, refused("the token has no %s claim, which names its user", m.Claim)
	}
	if m.Claim == "email" || strings.Contains(value, "@") {
		if err := verifiedAddress(m.Claim, value, claims); err != nil {
			return Person{}, err
		}
	}
	var found []Resource
	var err error
	switch m.Attribute {
	case MatchExternalID:
		found, err = p.Store.FindLookup(ctx, KindUser, LookupExternalID, value, ReadOptions{})
	case MatchUserName:
		found, err = p.Store.FindUnique(ctx, KindUser, value, ReadOptions{})
	case MatchEmails:
		l := EmailLookup(value)
		found, err = p.Store.FindLookup(ctx, KindUser, l.Attr, l.Value, ReadOptions{})
	default:
		return Person{}, fmt.Errorf("governance: sign-in matches claims against %q, which is not externalId, userName or emails", m.Attribute)
	}
	if err != nil {
		return Person{}, fmt.Errorf("governance: sign-in: %w", err)
	}
	if len(found) == 0 {
		return Person{}, refused("no user whose %s is %q has been provisioned by the identity provider", m.Attribute, value)
	}
	if len(found) > 1 {
		// Only userName is unique; a shared externalId or address names nobody for certain.
		return Person{}, refused("%d users have %s %q; the identity provider must give each user its own", len(found), m.Attribute, value)
	}
	person, err := personOf(found[0])
	if err != nil {
		return Person{}, err
	}
	if !person.Active {
		return Person{}, refused("user %q is deactivated", person.UserName)
	}
	return person, nil
}

// verifiedAddress accepts an address claim only when the provider vouches that the holder
// controls it. OpenID Connect vouches for one address, the email claim, with email_verified
// true; an address in any other claim (preferred_username, upn) counts only when it is that
// verified email.
func verifiedAddress(claim, value string, claims map[string]any) error {
	if verified, _ := claims["email_verified"].(bool); !verified {
		return refused("the token's %s is an email address, and its email_verified claim is not true: "+
			"the identity provider does not vouch that the holder owns the address", claim)
	}
	if email, _ := claims["email"].(string); claim != "email" && names.Fold(email) != names.Fold(value) {
		return refused("the token's %s is an email address other than its verified email", claim)
	}
	return nil
}
