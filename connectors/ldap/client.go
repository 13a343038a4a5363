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
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
)

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

var (
	_ connectors.Connector    = (*Connector)(nil)
	_ connectors.MemberLister = (*Connector)(nil)
)

// New checks the configuration; connections are made when needed.
func New(cfg Config) (*Connector, error) {
	cfg.defaults()
	if err := connectors.FirstProblem(func(bad connectors.Problems) { cfg.check("ldap", bad) }); err != nil {
		return nil, err
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

// classify says whether an LDAP error is worth retrying: the network, a busy or unavailable
// server, a timeout. Everything else (no such object, constraint violation, insufficient
// access) is permanent, and so is unwillingToPerform: the server refuses the operation
// itself (a read-only replica, a modification its schema or policy forbids), and asking
// again gets the same answer.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	retryable := ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
		ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout,
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

// search is a paged search under base.
func (c *Connector) search(conn *ldap.Conn, base, f string, attrs []string) ([]*ldap.Entry, error) {
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		f, attrs, nil), c.cfg.PageSize)
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}
