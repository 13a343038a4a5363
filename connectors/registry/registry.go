// Package registry names the connector types a configuration may use: each type's name is
// the key of its YAML section, and maps to a fresh configuration of that type, with its
// defaults, to decode the section into. A new connector type is one line here.
package registry

import (
	"maps"
	"slices"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/ldap"
	"github.com/gatehouse-iam/gatehouse/connectors/scimclient"
	"github.com/gatehouse-iam/gatehouse/connectors/webhook"
)

var types = map[string]func() connectors.Config{
	"ldap":    func() connectors.Config { return new(ldap.Config) },
	"scim":    func() connectors.Config { return new(scimclient.Config) },
	"webhook": func() connectors.Config { return new(webhook.Config) },
}

// New is a new configuration of the named type, and whether there is such a type.
func New(typ string) (connectors.Config, bool) {
	f, ok := types[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types are the type names, sorted.
func Types() []string {
	return slices.Sorted(maps.Keys(types))
}
