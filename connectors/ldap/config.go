package ldap

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/connectors"
)

// Config configures one directory: the section connectors[i].ldap of the configuration file,
// each setting under the name its yaml tag gives.
type Config struct {
	URL       string `yaml:"url"`      // ldap://host:389 or ldaps://host:636
	StartTLS  bool   `yaml:"startTLS"` // upgrade an ldap:// connection before binding
	CAFile    string `yaml:"caFile"`   // PEM bundle to trust; default the system's
	BindDN    string `yaml:"bindDN"`
	Password  string `yaml:"password"`  // in the file a secret reference, which Open resolves; New takes the value
	UserBase  string `yaml:"userBase"`  // where user entries live
	GroupBase string `yaml:"groupBase"` // where groups live
	// UserRDN is the naming attribute of user entries. Default "uid".
	UserRDN string `yaml:"userRDN"`
	// UserClasses are the object classes of new user entries. Default inetOrgPerson.
	UserClasses []string `yaml:"userClasses"`
	// Attributes maps LDAP attributes to SCIM fields: userName, givenName, familyName,
	// displayName, email. Default uid=userName, cn=displayName, sn=familyName,
	// givenName=givenName, mail=email.
	Attributes map[string]string `yaml:"attributes"`
	// GroupClass is the object class of groups. Default groupOfNames.
	GroupClass string `yaml:"groupClass"`
	// GroupName is the naming attribute of groups, and what an entitlement's ref is. Default "cn".
	GroupName string `yaml:"groupName"`
	// MemberAttr is member (DNs), uniqueMember (DNs) or memberUid (user names). Default member.
	MemberAttr string `yaml:"memberAttribute"`
	// Placeholder keeps groups whose schema needs a member (groupOfNames, groupOfUniqueNames)
	// valid when the last real member leaves. Default "cn=nobody".
	Placeholder string `yaml:"placeholder"`
	// Disable is how an account stops signing in, once it has left every group:
	//   - "ppolicy" (default): OpenLDAP's ppolicy overlay locks it: pwdAccountLockedTime
	//     000001010000Z, locked until the attribute is removed. The overlay must be on the
	//     database, with a default policy that has pwdLockout: TRUE.
	//   - "ad": Active Directory's ACCOUNTDISABLE flag (0x2) in userAccountControl.
	//   - "attribute": DisableAttr set to DisableValue, for a directory that refuses binds on
	//     it (389-DS: nsAccountLock: TRUE). Both are required, as nothing else enforces them.
	//   - "delete": the entry is deleted.
	// EnsureAccount undoes each: it lifts the lock it set, or adds the entry again.
	Disable      string `yaml:"disable"`
	DisableAttr  string `yaml:"disableAttribute"`
	DisableValue string `yaml:"disableValue"`
	// DisabledBase, when set, is where a locked account is moved, out of the searches of
	// applications that look people up under UserBase; EnsureAccount moves it back. Moving
	// is not a disable on its own (a bind by DN still works), so it comes with a lock: not
	// with "delete".
	DisabledBase string `yaml:"disabledBase"`
	// ServiceAccountBase is where non-human accounts live: an OU of their own, apart from
	// UserBase and DisabledBase, named by the identity's id. Unset, every call for a service
	// account fails for good, saying to set it: nothing falls back to UserBase, where a
	// leaver's entry may bear the name. A locked service account stays where it is: it is
	// never moved to DisabledBase, where a disabled person of the same name may be.
	ServiceAccountBase string `yaml:"serviceAccountBase"`
	// ServiceAccountPrefix, when set, begins the naming value and user name of every
	// non-human account (svc-build), and no person's may begin with it. Required for
	// service accounts with memberUid, whose values are names, not DNs: there only the name
	// can tell a service account's membership from a person's. Default none.
	ServiceAccountPrefix string        `yaml:"serviceAccountPrefix"`
	PoolSize             int           `yaml:"poolSize"` // connections kept open; default 4
	PageSize             uint32        `yaml:"pageSize"` // paged search size; default 500
	Timeout              time.Duration `yaml:"timeout"`  // per operation; default 10 s
}

func (c *Config) defaults() {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.UserRDN, "uid")
	set(&c.GroupClass, "groupOfNames")
	set(&c.GroupName, "cn")
	set(&c.MemberAttr, "member")
	set(&c.Placeholder, "cn=nobody")
	set(&c.Disable, "ppolicy")
	if len(c.UserClasses) == 0 {
		c.UserClasses = []string{"inetOrgPerson"}
	}
	if c.Attributes == nil {
		c.Attributes = map[string]string{"uid": "userName", "cn": "displayName", "sn": "familyName", "givenName": "givenName", "mail": "email"}
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 4
	}
	if c.PageSize == 0 {
		c.PageSize = 500
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem a file can have before any directory is reached; New checks
// the rest (the bases as DNs, apart from one another), and check-config reports both.
func (c *Config) Validate(field string, bad connectors.Problems, resolve connectors.Resolver) {
	c.check(field, bad)
	if c.BindDN == "" {
		bad(field+".bindDN", "is required")
	}
	if _, err := resolve(c.Password); err != nil {
		bad(field+".password", "%v", err)
	}
}

// check reports the problems of settings on their own and with one another, each through
// bad under field and the setting's name in the file: New stops at the first, Validate
// reports them all. An empty setting is its default.
func (c *Config) check(field string, bad connectors.Problems) {
	if !strings.HasPrefix(c.URL, "ldap://") && !strings.HasPrefix(c.URL, "ldaps://") {
		bad(field+".url", "%q is not ldap:// or ldaps://", c.URL)
	}
	if c.UserBase == "" || c.GroupBase == "" {
		bad(field, "userBase and groupBase are required")
	}
	if !slices.Contains([]string{"", "member", "uniqueMember", "memberUid"}, c.MemberAttr) {
		bad(field+".memberAttribute", "%q is not member, uniqueMember or memberUid", c.MemberAttr)
	}
	switch c.Disable {
	case "", "ppolicy", "ad", "delete":
	case "attribute":
		if c.DisableAttr == "" || c.DisableValue == "" {
			bad(field+".disable", "attribute needs disableAttribute and disableValue, a value the directory refuses binds on (389-DS: nsAccountLock: TRUE)")
		}
	case "move":
		bad(field+".disable", "move does not stop a moved account signing in: set ppolicy, ad or attribute, and disabledBase to move locked accounts as well")
	default:
		bad(field+".disable", "%q is not ppolicy, ad, attribute or delete", c.Disable)
	}
	if c.Disable == "delete" && c.DisabledBase != "" {
		bad(field+".disabledBase", "moves locked accounts; with disable delete nothing is left to move")
	}
	if c.MemberAttr == "memberUid" && c.ServiceAccountBase != "" && c.ServiceAccountPrefix == "" {
		bad(field+".serviceAccountPrefix", "memberUid holds names, not DNs, so serviceAccountBase alone cannot tell a service account's membership from a person's of the same name: set serviceAccountPrefix too (for example svc-)")
	}
	if err := connectors.CheckNamePrefix(c.ServiceAccountPrefix); err != nil {
		bad(field+".serviceAccountPrefix", "%v", err)
	}
	if c.PoolSize < 0 || c.Timeout < 0 {
		bad(field, "poolSize and timeout must not be negative")
	}
}

// Open resolves the bind password and makes the connector.
func (c *Config) Open(resolve connectors.Resolver) (connectors.Connector, error) {
	cfg := *c
	password, err := resolve(c.Password)
	if err != nil {
		return nil, fmt.Errorf("ldap: password: %w", err)
	}
	cfg.Password = password
	return New(cfg)
}
