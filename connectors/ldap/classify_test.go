package ldap

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
)

// Only what may pass is retried: a server that is down, busy or slow. A refusal of the
// operation itself, unwillingToPerform among them (a read-only replica, a change the server's
// policy forbids), gets the same answer every time, so retrying it only delays the dead letter.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		retryable bool
	}{
		{"unwilling to perform", ldap.NewError(ldap.LDAPResultUnwillingToPerform, errors.New("operation restricted")), false},
		{"insufficient access", ldap.NewError(ldap.LDAPResultInsufficientAccessRights, errors.New("no write access")), false},
		{"no such object", ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("no such object")), false},
		{"constraint violation", ldap.NewError(ldap.LDAPResultConstraintViolation, errors.New("single value")), false},
		{"invalid credentials", ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("bad password")), false},
		{"busy", ldap.NewError(ldap.LDAPResultBusy, errors.New("busy")), true},
		{"unavailable", ldap.NewError(ldap.LDAPResultUnavailable, errors.New("shutting down")), true},
		{"server down", ldap.NewError(ldap.LDAPResultServerDown, errors.New("gone")), true},
		{"network", ldap.NewError(ldap.ErrorNetwork, errors.New("connection reset")), true},
		{"deadline", fmt.Errorf("modify: %w", context.DeadlineExceeded), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("grant", tc.err)
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("classify(%v) = %v, not a connector error", tc.err, err)
			}
			if ce.Retryable != tc.retryable || connectors.Retryable(err) != tc.retryable {
				t.Fatalf("classify(%v): retryable %v, want %v", tc.err, ce.Retryable, tc.retryable)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("classify(%v) = %v: the cause is lost", tc.err, err)
			}
		})
	}
}
