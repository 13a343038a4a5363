package connectors

import "fmt"

// Config is one connector type's own configuration, decoded from the YAML section named after
// its type (connectors[i].ldap, .scim, .webhook): every setting the connector has is one of its
// fields, so nothing is copied between a file's settings and the connector. Settings that are
// secrets hold references (env:NAME, file:/path) until Open resolves them.
type Config interface {
	// Validate reports every problem with the settings at once, each through bad under field
	// (the section's path) and the setting's name in the file. It resolves secret references
	// to check them, and never shows a value.
	Validate(field string, bad Problems, resolve Resolver)
	// Open resolves the secrets and makes the connector.
	Open(resolve Resolver) (Connector, error)
}

// Problems reports one problem with a configuration setting.
type Problems func(field, format string, args ...any)

// Resolver reads the value of a secret reference.
type Resolver func(ref string) (string, error)

// FirstProblem runs check and answers the first problem it reports as an error, under the
// setting's name, for a constructor that stops at one.
func FirstProblem(check func(bad Problems)) error {
	var first error
	check(func(field, format string, args ...any) {
		if first == nil {
			first = fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
		}
	})
	return first
}
