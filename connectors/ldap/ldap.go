// Package ldap is the LDAP connector (github.com/go-ldap/ldap/v3): it creates user entries
// from SCIM attributes, adds and removes group memberships, and disables and enables accounts,
// against OpenLDAP, 389-DS or Active Directory style directories.
//
// Every user DN is built by account, every group DN by groupDN and every filter by filter:
// those are the only places values from outside reach the directory, each escaped exactly once.
//
// People live under the user base, non-human accounts (service accounts) under a base of
// their own, so a service account named like a person, present or departed, never gets that
// person's entry, nor a person a service account's.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// Config configures one directory.
type Config struct {
	URL       string // ldap://host:389 or ldaps://host:636
	StartTLS  bool   // upgrade an ldap:// connection before binding
	CAFile    string // PEM bundle to trust; default the system's
	BindDN    string
	Password  string // resolved from a secret reference by the caller
	UserBase  string // where user entries live
	GroupBase string // where groups live
	// UserRDN is the naming attribute of user entries. Default "uid".
	UserRDN string
	// UserClasses are the object classes of new user entries. Default inetOrgPerson.
	UserClasses []string
	// Attributes maps LDAP attributes to SCIM fields: userName, givenName, familyName,
	// displayName, email. Default uid=userName, cn=displayName, sn=familyName,
	// givenName=givenName, mail=email.
	Attributes map[string]string
	// GroupClass is the object class of groups. Default groupOfNames.
	GroupClass string
	// GroupName is the naming attribute of groups, and what an entitlement's ref is. Default "cn".
	GroupName string
	// MemberAttr is member (DNs), uniqueMember (DNs) or memberUid (user names). Default member.
	MemberAttr string
	// Placeholder keeps groups whose schema needs a member (groupOfNames, groupOfUniqueNames)
	// valid when the last real member leaves. Default "cn=nobody".
	Placeholder string
	// Disable is how an account stops signing in, once it has left every group:
	//   - "ppolicy" (default): OpenLDAP's ppolicy overlay locks it: pwdAccountLockedTime
	//     000001010000Z, locked until the attribute is removed. The overlay must be on the
	//     database, with a default policy that has pwdLockout: TRUE.
	//   - "ad": Active Directory's ACCOUNTDISABLE flag (0x2) in userAccountControl.
	//   - "attribute": DisableAttr set to DisableValue, for a directory that refuses binds on
	//     it (389-DS: nsAccountLock: TRUE). Both are required, as nothing else enforces them.
	//   - "delete": the entry is deleted.
	// EnsureAccount undoes each: it lifts the lock it set, or adds the entry again.
	Disable      string
	DisableAttr  string
	DisableValue string
	// DisabledBase, when set, is where a locked account is moved, out of the searches of
	// applications that look people up under UserBase; EnsureAccount moves it back. Moving
	// is not a disable on its own (a bind by DN still works), so it comes with a lock: not
	// with "delete".
	DisabledBase string
	// ServiceAccountBase is where non-human accounts live: an OU of their own, apart from
	// UserBase and DisabledBase, named by the identity's id. Unset, every call for a service
	// account fails for good, saying to set it: nothing falls back to UserBase, where a
	// leaver's entry may bear the name. A locked service account stays where it is: it is
	// never moved to DisabledBase, where a disabled person of the same name may be.
	ServiceAccountBase string
	// ServiceAccountPrefix, when set, begins the naming value and user name of every
	// non-human account (svc-build), and no person's may begin with it. Required for
	// service accounts with memberUid, whose values are names, not DNs: there only the name
	// can tell a service account's membership from a person's. Default none.
	ServiceAccountPrefix string
	PoolSize             int           // connections kept open; default 4
	PageSize             uint32        // paged search size; default 500
	Timeout              time.Duration // per operation; default 10 s
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

// Connector is an LDAP directory.
type Connector struct {
	cfg  Config
	tls  *tls.Config
	pool chan *ldap.Conn // idle connections
	// open bounds the connections in use or idle to PoolSize: beyond that, callers wait for
	// one rather than dial a connection to close after a single operation.
	open chan struct{}
	// accounts remembers user DNs seen to exist, for a while, so a grant right after the
	// account was ensured does not read it again. A stale entry costs at most a dangling
	// member value that reconciliation reports.
	accounts sync.Map // DN -> time.Time seen
	// clean remembers groups whose placeholder member is gone, so granting does not try to
	// remove it every time. Another replica may put it back when a group empties: then it
	// stays beside real members until this process restarts, which is harmless.
	clean   sync.Map // group DN -> struct{}
	batches lanes
	// people and services are the parsed user base and service account base (nil when
	// unset), to read member DNs back into accounts.
	people, services *ldap.DN
}

// accountTTL is how long an account seen to exist is trusted to exist.
const accountTTL = 10 * time.Minute

// How accounts are locked.
const (
	// lockedTime holds when ppolicy locked an account; permanentLock locks it until the
	// attribute is removed, whatever the policy's lockout duration. A lockout after failed
	// binds holds its real time instead, so Gatehouse never lifts one.
	lockedTime    = "pwdAccountLockedTime"
	permanentLock = "000001010000Z"
	// accountControl holds Active Directory's account flags: ACCOUNTDISABLE, and
	// NORMAL_ACCOUNT, assumed for an entry that has no flags yet.
	accountControl = "userAccountControl"
	accountDisable = 0x2
	normalAccount  = 0x200
)

func (c *Connector) known(dn string) bool {
	at, ok := c.accounts.Load(dn)
	// wall clock: a cache entry's age, elapsed time the governance clock has no say in
	return ok && time.Since(at.(time.Time)) < accountTTL
}

var (
	_ connectors.Connector    = (*Connector)(nil)
	_ connectors.MemberLister = (*Connector)(nil)
)

// New checks the configuration; connections are made when needed.
func New(cfg Config) (*Connector, error) {
	cfg.defaults()
	switch {
	case !strings.HasPrefix(cfg.URL, "ldap://") && !strings.HasPrefix(cfg.URL, "ldaps://"):
		return nil, fmt.Errorf("ldap: url %q is not ldap:// or ldaps://", cfg.URL)
	case cfg.UserBase == "" || cfg.GroupBase == "":
		return nil, errors.New("ldap: userBase and groupBase are required")
	case cfg.MemberAttr != "member" && cfg.MemberAttr != "uniqueMember" && cfg.MemberAttr != "memberUid":
		return nil, fmt.Errorf("ldap: memberAttribute %q is not member, uniqueMember or memberUid", cfg.MemberAttr)
	case cfg.Disable == "move":
		return nil, errors.New("ldap: disable move does not stop a moved account signing in: set disable to ppolicy, ad or attribute, and disabledBase to move locked accounts as well")
	case !slices.Contains([]string{"ppolicy", "ad", "attribute", "delete"}, cfg.Disable):
		return nil, fmt.Errorf("ldap: disable %q is not ppolicy, ad, attribute or delete", cfg.Disable)
	case cfg.Disable == "attribute" && (cfg.DisableAttr == "" || cfg.DisableValue == ""):
		return nil, errors.New("ldap: disable attribute needs disableAttribute and disableValue, a value the directory refuses binds on (389-DS: nsAccountLock: TRUE)")
	case cfg.Disable == "delete" && cfg.DisabledBase != "":
		return nil, errors.New("ldap: disabledBase moves locked accounts; with disable delete nothing is left to move")
	case cfg.MemberAttr == "memberUid" && cfg.ServiceAccountBase != "" && cfg.ServiceAccountPrefix == "":
		return nil, errors.New("ldap: memberUid holds names, not DNs, so serviceAccountBase alone cannot tell a service account's membership from a person's of the same name: set serviceAccountPrefix too (for example svc-)")
	}
	if err := connectors.CheckNamePrefix(cfg.ServiceAccountPrefix); err != nil {
		return nil, fmt.Errorf("ldap: serviceAccountPrefix %w", err)
	}
	if _, ok := cfg.Attributes[cfg.UserRDN]; !ok {
		return nil, fmt.Errorf("ldap: the naming attribute %s has no SCIM field mapped", cfg.UserRDN)
	}
	bases := map[string]*ldap.DN{}
	for _, b := range []struct{ name, dn string }{{"userBase", cfg.UserBase}, {"groupBase", cfg.GroupBase}, {"disabledBase", cfg.DisabledBase},
		{"serviceAccountBase", cfg.ServiceAccountBase}} {
		if b.dn == "" {
			continue
		}
		dn, err := ldap.ParseDN(b.dn)
		if err != nil {
			return nil, fmt.Errorf("ldap: %s %q is not a DN: %w", b.name, b.dn, err)
		}
		bases[b.name] = dn
	}
	if moved := bases["disabledBase"]; moved != nil && moved.EqualFold(bases["userBase"]) {
		return nil, errors.New("ldap: disabledBase must not be userBase: a disabled account would stay where applications look people up")
	}
	if services := bases["serviceAccountBase"]; services != nil {
		for _, other := range []string{"userBase", "disabledBase"} {
			if b := bases[other]; b != nil && (services.EqualFold(b) || services.AncestorOfFold(b) || b.AncestorOfFold(services)) {
				return nil, fmt.Errorf("ldap: serviceAccountBase must be an OU apart from %s, neither it, nor inside it, nor holding it: a service account's entry would be found where a person's is", other)
			}
		}
	}
	c := &Connector{cfg: cfg, pool: make(chan *ldap.Conn, cfg.PoolSize), open: make(chan struct{}, cfg.PoolSize),
		people: bases["userBase"], services: bases["serviceAccountBase"]}
	if strings.HasPrefix(cfg.URL, "ldaps://") || cfg.StartTLS {
		u, err := url.Parse(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("ldap: url: %w", err)
		}
		c.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ldap: ca bundle: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ldap: ca bundle %s holds no certificate", cfg.CAFile)
			}
			c.tls.RootCAs = pool
		}
	}
	return c, nil
}

// Close drops the pooled connections.
func (c *Connector) Close() {
	for {
		select {
		case conn := <-c.pool:
			_ = conn.Close() // an idle connection going away has nothing to report
		default:
			return
		}
	}
}

// account is where an identity's entry is, and how groups name it.
type account struct {
	name     string // the naming attribute's value
	rdn      string // the naming attribute and its value, escaped
	base     string // where the entry lives while enabled
	disabled string // where a locked entry is moved; "" to lock it where it is
	member   string // what the member attribute holds for it: its DN, or for memberUid a name
}

func (a account) dn() string { return a.rdn + "," + a.base }

// account is the one place a user's DN is built: the naming attribute's value, escaped, under
// the user base for a person, under the service account base for a non-human identity (its id
// behind the prefix); a locked person's entry may be moved under the disabled base. A DN is
// never taken apart again to find an account. A service account without a base of its own,
// and a person named like the prefix, are refused for good: either could land on the other's
// entry.
func (c *Connector) account(id connectors.Identity) (account, error) {
	prefix := c.cfg.ServiceAccountPrefix
	if id.NonHuman {
		switch {
		case c.cfg.ServiceAccountBase == "":
			return account{}, &connectors.Error{Op: "service account", Err: fmt.Errorf(
				"%s is a service account, and this directory has no place for service accounts apart from people: set ldap.serviceAccountBase to an OU of their own", id.ID)}
		case id.ID == "":
			return account{}, &connectors.Error{Op: "service account", Err: errors.New("a service account without an id")}
		}
		name := prefix + id.ID
		a := account{name: name, rdn: c.cfg.UserRDN + "=" + ldap.EscapeDN(name), base: c.cfg.ServiceAccountBase, member: name}
		if c.cfg.MemberAttr != "memberUid" {
			a.member = a.dn()
		}
		return a, nil
	}
	name := field(id, c.cfg.Attributes[c.cfg.UserRDN])
	if name == "" {
		return account{}, &connectors.Error{Op: "user dn", Err: fmt.Errorf("%s has no %s", id.ID, c.cfg.Attributes[c.cfg.UserRDN])}
	}
	a := account{name: name, rdn: c.cfg.UserRDN + "=" + ldap.EscapeDN(name), base: c.cfg.UserBase, disabled: c.cfg.DisabledBase, member: id.UserName}
	if c.cfg.MemberAttr != "memberUid" {
		a.member = a.dn()
	}
	for _, v := range []string{a.name, id.UserName} {
		if prefix != "" && connectors.HasNamePrefix(v, prefix) {
			return account{}, &connectors.Error{Op: "user dn", Err: fmt.Errorf(
				"%s is named %q, and names beginning with %q are service accounts' in this directory (serviceAccountPrefix): rename the person in the IdP, or choose another prefix", id.ID, v, prefix)}
		}
	}
	return a, nil
}

// groupDN is the one place a group's DN is built from an entitlement ref.
func (c *Connector) groupDN(ref string) string {
	return c.cfg.GroupName + "=" + ldap.EscapeDN(ref) + "," + c.cfg.GroupBase
}

// filter is the one place a search filter takes values: each is escaped.
func filter(format string, values ...string) string {
	escaped := make([]any, len(values))
	for i, v := range values {
		escaped[i] = ldap.EscapeFilter(v)
	}
	return fmt.Sprintf(format, escaped...)
}

func field(id connectors.Identity, name string) string {
	switch name {
	case "userName":
		return id.UserName
	case "givenName":
		return id.GivenName
	case "familyName":
		return id.FamilyName
	case "displayName":
		return id.DisplayName
	case "email":
		return id.Email
	case "id":
		return id.ID
	}
	return ""
}

// classify says whether an LDAP error is worth retrying: the network, a busy or unavailable
// server, a timeout. Everything else (no such object, constraint violation, insufficient
// access) is permanent.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	retryable := ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
		ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout,
		ldap.LDAPResultConnectError, ldap.LDAPResultAdminLimitExceeded)
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		retryable = true
	}
	return &connectors.Error{Op: op, Retryable: retryable, Err: err}
}

// conn takes a pooled connection or dials a new one.
func (c *Connector) conn(ctx context.Context) (*ldap.Conn, error) {
	for {
		select {
		case conn := <-c.pool:
			if !conn.IsClosing() {
				return conn, nil
			}
			_ = conn.Close() // a dead idle connection: dial another
			continue
		default:
		}
		break
	}
	opts := []ldap.DialOpt{ldap.DialWithDialer(&net.Dialer{Timeout: c.cfg.Timeout})}
	if strings.HasPrefix(c.cfg.URL, "ldaps://") {
		opts = append(opts, ldap.DialWithTLSConfig(c.tls))
	}
	conn, err := ldap.DialURL(c.cfg.URL, opts...)
	if err != nil {
		return nil, classify("connect", err)
	}
	conn.SetTimeout(c.cfg.Timeout)
	if c.cfg.StartTLS {
		if err := conn.StartTLS(c.tls); err != nil {
			_ = conn.Close() // the StartTLS error is the one to report
			return nil, classify("starttls", err)
		}
	}
	if err := conn.Bind(c.cfg.BindDN, c.cfg.Password); err != nil {
		_ = conn.Close() // a connection given up on; its own error says nothing more
		return nil, classify("bind", err)
	}
	return conn, nil
}

func (c *Connector) release(conn *ldap.Conn) {
	select {
	case c.pool <- conn:
	default:
		_ = conn.Close() // a connection given up on; its own error says nothing more
	}
}

// with runs op on a connection. A connection the server dropped (a restart) is replaced
// once; a failure on the fresh one is the answer.
func (c *Connector) with(ctx context.Context, name string, op func(*ldap.Conn) error) error {
	select {
	case c.open <- struct{}{}:
	case <-ctx.Done():
		return classify(name, ctx.Err())
	}
	defer func() { <-c.open }()
	for attempt := 0; ; attempt++ {
		conn, err := c.conn(ctx)
		if err != nil {
			return err
		}
		err = op(conn)
		if err != nil && ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && attempt == 0 {
			_ = conn.Close() // a connection given up on; its own error says nothing more
			continue
		}
		if conn.IsClosing() {
			_ = conn.Close() // a connection given up on; its own error says nothing more
		} else {
			c.release(conn)
		}
		return classifyKeep(name, err)
	}
}

// classifyKeep classifies err, leaving connector errors made by op as they are.
func classifyKeep(op string, err error) error {
	var ce *connectors.Error
	if err == nil || errors.As(err, &ce) || errors.Is(err, connectors.ErrUnknownEntitlement) || errors.Is(err, connectors.ErrUnknownIdentity) {
		return err
	}
	return classify(op, err)
}

// TestConnection binds, reads the bases, and checks that the directory knows the attribute
// that locks accounts: without the ppolicy overlay, say, no disable could succeed.
func (c *Connector) TestConnection(ctx context.Context) error {
	return c.with(ctx, "test connection", func(conn *ldap.Conn) error {
		for _, base := range []string{c.cfg.UserBase, c.cfg.GroupBase, c.cfg.DisabledBase, c.cfg.ServiceAccountBase} {
			if base == "" {
				continue
			}
			if _, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
				"(objectClass=*)", []string{"1.1"}, nil)); err != nil {
				return fmt.Errorf("read %s: %w", base, err)
			}
		}
		return c.checkSchema(conn)
	})
}

// checkSchema looks the lock attribute up in the directory's schema. A directory that does
// not publish its schema in the root DSE passes: the first disable will tell.
func (c *Connector) checkSchema(conn *ldap.Conn) error {
	attr := c.lockAttr()
	if attr == "" {
		return nil
	}
	root, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"subschemaSubentry"}, nil))
	if err != nil {
		return fmt.Errorf("read the root DSE: %w", err)
	}
	subschema := root.Entries[0].GetEqualFoldAttributeValue("subschemaSubentry")
	if subschema == "" {
		return nil
	}
	res, err := conn.Search(ldap.NewSearchRequest(subschema, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=subschema)", []string{"attributeTypes"}, nil))
	if err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	for _, def := range res.Entries[0].GetEqualFoldAttributeValues("attributeTypes") {
		if slices.ContainsFunc(schemaNames(def), func(n string) bool { return strings.EqualFold(n, attr) }) {
			return nil
		}
	}
	hint := "the directory has no such attribute"
	if c.cfg.Disable == "ppolicy" {
		hint = "load the ppolicy overlay, or choose another disable mode"
	}
	return fmt.Errorf("disable %s sets %s, which the directory's schema does not define: %s", c.cfg.Disable, attr, hint)
}

// schemaNames reads the names of an attribute type definition (RFC 4512): NAME 'x', or
// NAME ( 'x' 'y' ).
func schemaNames(def string) []string {
	_, rest, ok := strings.Cut(def, " NAME ")
	if !ok {
		return nil
	}
	rest = strings.TrimSpace(rest)
	if list, ok := strings.CutPrefix(rest, "("); ok {
		rest, _, _ = strings.Cut(list, ")")
	} else if name, _, ok := strings.Cut(strings.TrimPrefix(rest, "'"), "'"); ok {
		return []string{name}
	}
	var names []string
	for _, f := range strings.Fields(rest) {
		names = append(names, strings.Trim(f, "'"))
	}
	return names
}

func (c *Connector) exists(conn *ldap.Conn, dn string) (bool, error) {
	_, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return false, nil
	}
	return err == nil, err
}

// A lookup of an account answers nil for one that exists and signs in, or one of these.
var (
	errAbsent = errors.New("ldap: no such account")
	errLocked = errors.New("ldap: the account is locked")
)

// lookup reads whether the account's entry exists under its base and whether it is locked
// the way this connector locks. Concurrent lookups under one base share one search (see
// lanes): people's and service accounts' never share one.
func (c *Connector) lookup(ctx context.Context, a account) error {
	return c.batches.do(ctx, laneKey{entry: a.base, op: findAccounts}, a.name, func(ctx context.Context, names []string) []error {
		return c.findAccounts(ctx, a.base, names)
	})
}

// remember notes that the account at dn exists, for Grant.
func (c *Connector) remember(dn string) {
	c.accounts.Store(dn, time.Now()) // wall clock: when this cache entry was made
}

// accountExists says whether the account's entry exists, locked or not, remembering a found
// one for a while.
func (c *Connector) accountExists(ctx context.Context, a account) (bool, error) {
	if c.known(a.dn()) {
		return true, nil
	}
	err := c.lookup(ctx, a)
	if errors.Is(err, errAbsent) {
		return false, nil
	}
	if err != nil && !errors.Is(err, errLocked) {
		return false, err
	}
	c.remember(a.dn())
	return true, nil
}

// findAccounts looks the naming values up right under base in one search: nil for each found
// and not locked, errLocked for each locked, errAbsent for the others.
func (c *Connector) findAccounts(ctx context.Context, base string, accounts []string) []error {
	errs := make([]error, len(accounts))
	var terms strings.Builder
	for _, n := range accounts {
		terms.WriteString(filter("(%s=%s)", c.cfg.UserRDN, n))
	}
	attrs := []string{"1.1"}
	if attr := c.lockAttr(); attr != "" {
		attrs = []string{attr}
	}
	err := c.with(ctx, "find accounts", func(conn *ldap.Conn) error {
		// One level only: the entries account names, not one moved below (a disabled base).
		res, err := conn.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(|"+terms.String()+")", attrs, nil), c.cfg.PageSize)
		if err != nil {
			return err
		}
		// By the entry's own naming value, compared as the directory compares uid and cn
		// (caseIgnoreMatch: case-folded and normalised), so a name typed in another form is
		// the account the search found: an entry may hold other values of the attribute too.
		locked := make(map[string]bool, len(res.Entries)) // present ones, by name: locked?
		for _, e := range res.Entries {
			if dn, err := ldap.ParseDN(e.DN); err == nil && len(dn.RDNs) > 0 {
				for _, a := range dn.RDNs[0].Attributes {
					if strings.EqualFold(a.Type, c.cfg.UserRDN) {
						locked[names.Fold(a.Value)] = c.locked(e)
					}
				}
			}
		}
		for i, n := range accounts {
			switch l, present := locked[names.Fold(n)]; {
			case !present:
				errs[i] = errAbsent
			case l:
				errs[i] = errLocked
			}
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// EnsureAccount makes the identity's account one that signs in: it lifts the lock
// DisableAccount set, moves the entry back from the disabled base, or adds it with the mapped
// attributes. It always reads the directory, never the memory of an account seen: another
// replica may have disabled it since. Whatever else an existing entry holds is left as it is,
// and so is a lock that is not the connector's (a ppolicy lockout after failed binds).
func (c *Connector) EnsureAccount(ctx context.Context, id connectors.Identity) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	dn := a.dn()
	// A read first: accounts mostly exist and sign in, and a refused add costs slapd a write.
	switch err := c.lookup(ctx, a); {
	case err == nil:
		c.remember(dn)
		return nil
	case errors.Is(err, errLocked):
		return c.with(ctx, "enable account", func(conn *ldap.Conn) error { return c.enable(conn, dn) })
	case !errors.Is(err, errAbsent):
		return err
	}
	if id.NonHuman {
		id.UserName = a.name // every attribute mapped from the user name bears the prefix too
	}
	return c.with(ctx, "ensure account", func(conn *ldap.Conn) error {
		if a.disabled != "" {
			err := conn.ModifyDN(ldap.NewModifyDNRequest(a.rdn+","+a.disabled, a.rdn, true, a.base))
			switch {
			case err == nil:
				return c.enable(conn, dn)
			case !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultEntryAlreadyExists):
				return err
			}
			// Not there, or moved back meanwhile: the add below tells.
		}
		add := ldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", c.cfg.UserClasses)
		for attr, f := range c.cfg.Attributes {
			v := field(id, f)
			if strings.EqualFold(attr, c.cfg.UserRDN) {
				v = a.name // a service account's entry is named by its id, whatever the mapping
			}
			if v != "" {
				add.Attribute(attr, []string{v})
			}
		}
		// inetOrgPerson needs cn and sn; an IdP may send neither a display name nor a family name.
		for _, must := range []string{"cn", "sn"} {
			if len(attrValues(add, must)) == 0 {
				add.Attribute(must, []string{a.name})
			}
		}
		err := conn.Add(add)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			// Added, or moved back and perhaps not yet unlocked, by another call meanwhile.
			return c.enable(conn, dn)
		}
		if err == nil {
			c.remember(dn)
		}
		return err
	})
}

// enable lifts the lock of the entry at dn, and remembers it.
func (c *Connector) enable(conn *ldap.Conn, dn string) error {
	if err := c.unlock(conn, dn); err != nil {
		return err
	}
	c.remember(dn)
	return nil
}

func attrValues(add *ldap.AddRequest, name string) []string {
	for _, a := range add.Attributes {
		if strings.EqualFold(a.Type, name) {
			return a.Vals
		}
	}
	return nil
}

// DisableAccount removes the account from every group, so a disabled account holds nothing,
// then stops it signing in: it locks the entry and, with a disabled base, moves a person's
// there (in that order, so an entry found there is always locked), or deletes it. An absent
// account, or one a concurrent call moved or deleted meanwhile, is success.
func (c *Connector) DisableAccount(ctx context.Context, id connectors.Identity) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	dn, value := a.dn(), a.member
	c.accounts.Delete(dn)
	return c.with(ctx, "disable account", func(conn *ldap.Conn) error {
		found, err := c.exists(conn, dn)
		if err != nil || !found {
			return err
		}
		groups, err := c.search(conn, c.cfg.GroupBase, filter("(&(objectClass=%s)(%s=%s))", c.cfg.GroupClass, c.cfg.MemberAttr, value), []string{c.cfg.GroupName})
		if err != nil {
			return err
		}
		for _, g := range groups {
			if err := c.removeMembers(conn, g.DN, []string{value}); err != nil {
				return err
			}
		}
		if c.cfg.Disable == "delete" {
			return gone(conn.Del(ldap.NewDelRequest(dn, nil)))
		}
		if err := gone(c.lock(conn, dn)); err != nil || a.disabled == "" {
			return err
		}
		err = conn.ModifyDN(ldap.NewModifyDNRequest(dn, a.rdn, true, a.disabled))
		switch {
		case ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists):
			return gone(conn.Del(ldap.NewDelRequest(dn, nil))) // a disabled twin is there already
		case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
			// Moved by a concurrent call, or the disabled base is missing: the entry tells.
			if still, xerr := c.exists(conn, dn); xerr != nil || still {
				return errors.Join(fmt.Errorf("move under %s: %w", a.disabled, err), xerr)
			}
			return nil
		}
		return err
	})
}

// gone takes "no such object" for success: a concurrent disable moved or deleted the entry.
func gone(err error) error {
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	return err
}

// lockAttr is the attribute that says an account is locked; "" when accounts are deleted.
func (c *Connector) lockAttr() string {
	switch c.cfg.Disable {
	case "ppolicy":
		return lockedTime
	case "ad":
		return accountControl
	case "attribute":
		return c.cfg.DisableAttr
	}
	return ""
}

// lockValue is the value lockAttr holds when this connector locked the account (ppolicy and
// attribute; Active Directory's is a flag among others).
func (c *Connector) lockValue() string {
	if c.cfg.Disable == "ppolicy" {
		return permanentLock
	}
	return c.cfg.DisableValue
}

// locked reads an entry found with lockAttr: is it locked the way lock locks?
func (c *Connector) locked(e *ldap.Entry) bool {
	switch c.cfg.Disable {
	case "delete":
		return false
	case "ad":
		flags, err := strconv.ParseInt(e.GetEqualFoldAttributeValue(accountControl), 10, 64)
		return err == nil && flags&accountDisable != 0
	}
	return slices.ContainsFunc(e.GetEqualFoldAttributeValues(c.lockAttr()), func(v string) bool { return strings.EqualFold(v, c.lockValue()) })
}

// lock stops the account at dn signing in; a repeat changes nothing.
func (c *Connector) lock(conn *ldap.Conn, dn string) error {
	if c.cfg.Disable == "ad" {
		return c.setAccountDisable(conn, dn, true)
	}
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace(c.lockAttr(), []string{c.lockValue()})
	return conn.Modify(mod)
}

// unlock lifts what lock set, and nothing else: deleting the value lock wrote leaves a
// different one (a ppolicy lockout stamped with its time) in place.
func (c *Connector) unlock(conn *ldap.Conn, dn string) error {
	switch c.cfg.Disable {
	case "delete":
		return nil
	case "ad":
		return c.setAccountDisable(conn, dn, false)
	}
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Delete(c.lockAttr(), []string{c.lockValue()})
	if err := conn.Modify(mod); !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		return err
	}
	return nil
}

// setAccountDisable sets or clears ACCOUNTDISABLE, keeping the other flags. The modify deletes
// the value read and adds the new one: if another writer changed the flags in between, the
// delete fails and the flags are read again.
func (c *Connector) setAccountDisable(conn *ldap.Conn, dn string, disable bool) error {
	var err error
	for range 3 {
		var res *ldap.SearchResult
		res, err = conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{accountControl}, nil))
		if err != nil {
			return err
		}
		old := res.Entries[0].GetEqualFoldAttributeValue(accountControl)
		flags := int64(normalAccount)
		if old != "" {
			if flags, err = strconv.ParseInt(old, 10, 64); err != nil {
				return fmt.Errorf("%s of %s is %q, not a number", accountControl, dn, old)
			}
		}
		next := flags &^ accountDisable
		if disable {
			next = flags | accountDisable
		}
		if next == flags && (old != "" || !disable) {
			return nil
		}
		mod := ldap.NewModifyRequest(dn, nil)
		if old != "" {
			mod.Delete(accountControl, []string{old})
		}
		mod.Add(accountControl, []string{strconv.FormatInt(next, 10)})
		err = conn.Modify(mod)
		if !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultAttributeOrValueExists) {
			return err
		}
	}
	return fmt.Errorf("%s of %s changed under each of 3 attempts: %w", accountControl, dn, err)
}

// search is a paged search under base.
func (c *Connector) search(conn *ldap.Conn, base, f string, attrs []string) ([]*ldap.Entry, error) {
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		f, attrs, nil), c.cfg.PageSize)
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}

// ListEntitlements lists the groups under the group base.
func (c *Connector) ListEntitlements(ctx context.Context) ([]connectors.Entitlement, error) {
	var out []connectors.Entitlement
	err := c.with(ctx, "list entitlements", func(conn *ldap.Conn) error {
		entries, err := c.search(conn, c.cfg.GroupBase, filter("(objectClass=%s)", c.cfg.GroupClass), []string{c.cfg.GroupName, "description"})
		for _, e := range entries {
			name := e.GetAttributeValue(c.cfg.GroupName)
			out = append(out, connectors.Entitlement{Ref: name, Name: name, Description: e.GetAttributeValue("description")})
		}
		return err
	})
	return out, err
}

// Grant adds the identity to the group; already a member is success. Concurrent grants to
// one group share a modify (see lanes).
func (c *Connector) Grant(ctx context.Context, id connectors.Identity, ref string) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	value := a.member
	if found, err := c.accountExists(ctx, a); err != nil || !found {
		if err == nil {
			err = fmt.Errorf("%w: %s", connectors.ErrUnknownIdentity, id.ID)
		}
		return err
	}
	group := c.groupDN(ref)
	return c.batches.do(ctx, laneKey{entry: group, op: addMembers}, value, func(ctx context.Context, values []string) []error {
		return c.eachValue(ctx, "grant", values, func(conn *ldap.Conn, values []string) error {
			return c.addMembers(conn, group, ref, values)
		})
	})
}

// Revoke removes the identity from the group; not a member, or no such group, is success.
// Concurrent revocations in one group share a modify.
func (c *Connector) Revoke(ctx context.Context, id connectors.Identity, ref string) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	value := a.member
	group := c.groupDN(ref)
	return c.batches.do(ctx, laneKey{entry: group, op: removeMembers}, value, func(ctx context.Context, values []string) []error {
		return c.eachValue(ctx, "revoke", values, func(conn *ldap.Conn, values []string) error {
			return c.removeMembers(conn, group, values)
		})
	})
}

// eachValue applies change to all values in one modify. When that fails for a reason one value
// may own (already a member, already gone, the group's last member), each value is tried on
// its own, so every caller gets its own answer; a retryable failure, or a missing group, is
// everyone's.
func (c *Connector) eachValue(ctx context.Context, op string, values []string, change func(*ldap.Conn, []string) error) []error {
	errs := make([]error, len(values))
	err := c.with(ctx, op, func(conn *ldap.Conn) error { return change(conn, values) })
	if err == nil || len(values) == 1 || connectors.Retryable(err) || errors.Is(err, connectors.ErrUnknownEntitlement) {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, v := range values {
		errs[i] = c.with(ctx, op, func(conn *ldap.Conn) error { return change(conn, []string{v}) })
	}
	return errs
}

// addMembers adds values in one modify. A single value already there is success; among several
// it fails the modify, and eachValue sorts it out.
func (c *Connector) addMembers(conn *ldap.Conn, group, ref string, values []string) error {
	mod := ldap.NewModifyRequest(group, nil)
	mod.Add(c.cfg.MemberAttr, values)
	err := conn.Modify(mod)
	switch {
	case len(values) == 1 && ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists):
		return nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return fmt.Errorf("%w: %s", connectors.ErrUnknownEntitlement, ref)
	case err != nil:
		return err
	}
	if c.cfg.MemberAttr != "memberUid" {
		return c.dropPlaceholder(conn, group)
	}
	return nil
}

// removeMembers removes values in one modify; a single value, when the schema needs a member
// and it was the last, gives way to the placeholder in the same modification.
func (c *Connector) removeMembers(conn *ldap.Conn, group string, values []string) error {
	mod := ldap.NewModifyRequest(group, nil)
	mod.Delete(c.cfg.MemberAttr, values)
	err := conn.Modify(mod)
	switch {
	case err == nil, ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil
	case len(values) > 1:
		return err
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute):
		return nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation):
		mod := ldap.NewModifyRequest(group, nil)
		mod.Add(c.cfg.MemberAttr, []string{c.cfg.Placeholder})
		mod.Delete(c.cfg.MemberAttr, values)
		c.clean.Delete(group)
		err = conn.Modify(mod)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
			// A concurrent removal of the same value put the placeholder in first: the value
			// is no longer the last, and goes on its own (or is gone already).
			mod := ldap.NewModifyRequest(group, nil)
			mod.Delete(c.cfg.MemberAttr, values)
			err = conn.Modify(mod)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
			return nil
		}
		return err
	}
	return err
}

// dropPlaceholder removes the placeholder once a real member is in.
func (c *Connector) dropPlaceholder(conn *ldap.Conn, group string) error {
	if _, ok := c.clean.Load(group); ok {
		return nil
	}
	mod := ldap.NewModifyRequest(group, nil)
	mod.Delete(c.cfg.MemberAttr, []string{c.cfg.Placeholder})
	err := conn.Modify(mod)
	if err == nil || ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		c.clean.Store(group, struct{}{})
		return nil
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation) {
		return nil
	}
	return err
}

// Members lists the accounts in a group, reading the member attribute with paged range
// retrieval left to the server (OpenLDAP returns all values).
func (c *Connector) Members(ctx context.Context, ref string) ([]connectors.Member, error) {
	var out []connectors.Member
	err := c.with(ctx, "members", func(conn *ldap.Conn) error {
		res, err := conn.Search(ldap.NewSearchRequest(c.groupDN(ref), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{c.cfg.MemberAttr}, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("%w: %s", connectors.ErrUnknownEntitlement, ref)
		}
		if err != nil {
			return err
		}
		for _, v := range res.Entries[0].GetAttributeValues(c.cfg.MemberAttr) {
			if m, ok := c.member(v); ok {
				out = append(out, m)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b connectors.Member) int { // people first, then service accounts
		switch {
		case a.NonHuman == b.NonHuman:
			return strings.Compare(a.Name, b.Name)
		case b.NonHuman:
			return -1
		}
		return 1
	})
	return out, err
}

// member reads a member value back into whose account it is, as account names it: a DN under
// the user base is a person's (its naming value), one under the service account base a
// service account's (its naming value without the prefix); the placeholder and foreign DNs
// are skipped. A memberUid is a service account's when it bears the prefix, else a person's.
func (c *Connector) member(v string) (connectors.Member, bool) {
	prefix := c.cfg.ServiceAccountPrefix
	service := func(name string) (connectors.Member, bool) {
		if prefix == "" || !connectors.HasNamePrefix(name, prefix) {
			return connectors.Member{}, false
		}
		return connectors.Member{Name: name[len(prefix):], NonHuman: true}, true
	}
	if c.cfg.MemberAttr == "memberUid" {
		if m, ok := service(v); ok {
			return m, true
		}
		return connectors.Member{Name: v}, true
	}
	dn, err := ldap.ParseDN(v)
	if err != nil || len(dn.RDNs) < 2 || len(dn.RDNs[0].Attributes) != 1 {
		return connectors.Member{}, false
	}
	a := dn.RDNs[0].Attributes[0]
	if !strings.EqualFold(a.Type, c.cfg.UserRDN) {
		return connectors.Member{}, false
	}
	switch {
	case c.services != nil && c.services.AncestorOfFold(dn):
		if prefix == "" {
			return connectors.Member{Name: a.Value, NonHuman: true}, true
		}
		return service(a.Value) // an entry without the prefix is not one Gatehouse made
	case c.people.AncestorOfFold(dn):
		return connectors.Member{Name: a.Value}, true
	}
	return connectors.Member{}, false
}
