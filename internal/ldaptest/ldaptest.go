// Package ldaptest starts private OpenLDAP slapd servers for tests: a fresh database in a temp
// directory, plain LDAP and LDAPS on free loopback ports, a certificate from a test CA made
// here, and the base entries (dc=example,dc=org with ou=people and ou=groups). Like redistest,
// it fails, never skips, when slapd is missing: `make test` installs it.
//
// Accounts can be locked as in the directories the LDAP connector supports, and a locked
// account's bind fails with invalid credentials:
//   - OpenLDAP's own way, for real: the ppolicy overlay with a default policy (PolicyDN) that
//     honours pwdAccountLockedTime;
//   - Active Directory's userAccountControl ACCOUNTDISABLE bit (0x2) and 389-DS's
//     nsAccountLock: TRUE, emulated: the attributes come from a small schema of this package
//     (allowed on entries of the auxiliary class AccountClass), and an access rule denies the
//     password to binds while they are set. slapd cannot be those servers; this lets tests
//     bind against entries carrying their flags.
package ldaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Directory facts every test server shares.
const (
	BaseDN    = "dc=example,dc=org"
	PeopleDN  = "ou=people," + BaseDN
	GroupsDN  = "ou=groups," + BaseDN
	AdminDN   = "cn=admin," + BaseDN
	AdminPass = "test-secret"
	// PolicyDN is the ppolicy overlay's default policy: pwdLockout TRUE, so a
	// pwdAccountLockedTime refuses binds; no other rule (no failure count, no expiry).
	PolicyDN = "cn=default,ou=policies," + BaseDN
	// AccountClass is the auxiliary object class that allows userAccountControl and
	// nsAccountLock on an entry.
	AccountClass = "gatehouseTestAccount"
)

// Server is one private slapd.
type Server struct {
	Port, TLSPort int
	CAFile        string // PEM of the CA that signed the server's certificate
	dir           string
	cmd           *exec.Cmd
}

// URL is the plain ldap:// URL (StartTLS works on it too); TLSURL the ldaps:// one.
func (s *Server) URL() string    { return "ldap://127.0.0.1:" + strconv.Itoa(s.Port) }
func (s *Server) TLSURL() string { return "ldaps://127.0.0.1:" + strconv.Itoa(s.TLSPort) }

// accounts is the schema of the emulated account flags: the attribute types under the OIDs
// Active Directory and 389-DS give them, and a class from OpenLDAP's experimental arc.
const accounts = `attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 2.16.840.1.113730.3.1.610 NAME 'nsAccountLock'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.1.1 NAME '` + AccountClass + `' AUXILIARY
	MAY ( userAccountControl $ nsAccountLock ) )
`

const config = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
include {{DIR}}/accounts.schema
pidfile {{DIR}}/slapd.pid
argsfile {{DIR}}/slapd.args
loglevel none
TLSCACertificateFile {{DIR}}/ca.pem
TLSCertificateFile {{DIR}}/server.pem
TLSCertificateKeyFile {{DIR}}/server.key
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
database mdb
maxsize 1073741824
suffix "` + BaseDN + `"
rootdn "` + AdminDN + `"
rootpw ` + AdminPass + `
directory {{DIR}}/db
index objectClass eq
index uid,cn,mail eq
index member,uniqueMember,memberUid eq
multival member,uniqueMember,memberUid 100,10
dbnosync
overlay ppolicy
ppolicy_default "` + PolicyDN + `"
# Binds of accounts carrying Active Directory's ACCOUNTDISABLE bit (integerBitAndMatch) or
# 389-DS's lock fail, as those servers refuse them; everything else is as slapd's default.
access to attrs=userPassword filter=(userAccountControl:1.2.840.113556.1.4.803:=2) by * none
access to attrs=userPassword filter=(nsAccountLock=TRUE) by * none
access to * by * read
`

// Start launches slapd with the base entries in place.
func Start() (*Server, error) {
	bin, err := exec.LookPath("slapd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/slapd"); err != nil {
			return nil, errors.New("ldaptest: slapd is not installed: run `make test` (it installs it as root) or `apt-get install slapd ldap-utils`")
		}
	}
	dir, err := os.MkdirTemp("", "gatehouse-slapd-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	if err := writeCertificates(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	conf := strings.ReplaceAll(config, "{{DIR}}", dir)
	if err := os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts.schema"), []byte(accounts), 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
		if s.TLSPort, err = freePort(); err != nil {
			return nil, err
		}
		if lastErr = s.run(bin); lastErr == nil {
			return s, s.seed()
		}
		s.Kill()
	}
	return nil, fmt.Errorf("ldaptest: slapd did not come up: %w", lastErr)
}

func (s *Server) run(bin string) error {
	// -d 0 keeps slapd in the foreground, so the process we hold is slapd itself.
	s.cmd = exec.Command(bin, "-d", "0", "-f", filepath.Join(s.dir, "slapd.conf"),
		"-h", s.URL()+"/ "+s.TLSURL()+"/")
	logFile, err := os.OpenFile(filepath.Join(s.dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("ldaptest: start slapd: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := s.Admin()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
			return fmt.Errorf("%w\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Admin connects as the root DN over plain LDAP.
func (s *Server) Admin() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL(), ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return nil, err
	}
	if err := c.Bind(AdminDN, AdminPass); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// CanBind binds as dn with password over plain LDAP, as an application signing a person in
// does: true when slapd accepts, false when it refuses the credentials (a wrong password, a
// locked account, no such entry), an error for anything else.
func (s *Server) CanBind(dn, password string) (bool, error) {
	c, err := ldap.DialURL(s.URL(), ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return false, err
	}
	defer c.Close()
	err = c.Bind(dn, password)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return false, nil
	}
	return err == nil, err
}

func (s *Server) seed() error {
	c, err := s.Admin()
	if err != nil {
		return err
	}
	defer c.Close()
	base := ldap.NewAddRequest(BaseDN, nil)
	base.Attribute("objectClass", []string{"dcObject", "organization"})
	base.Attribute("dc", []string{"example"})
	base.Attribute("o", []string{"Example"})
	if err := c.Add(base); err != nil {
		return fmt.Errorf("ldaptest: seed %s: %w", BaseDN, err)
	}
	for _, ou := range []string{"people", "groups", "policies"} {
		r := ldap.NewAddRequest("ou="+ou+","+BaseDN, nil)
		r.Attribute("objectClass", []string{"organizationalUnit"})
		r.Attribute("ou", []string{ou})
		if err := c.Add(r); err != nil {
			return fmt.Errorf("ldaptest: seed ou=%s: %w", ou, err)
		}
	}
	policy := ldap.NewAddRequest(PolicyDN, nil)
	policy.Attribute("objectClass", []string{"organizationalRole", "pwdPolicy"})
	policy.Attribute("cn", []string{"default"})
	policy.Attribute("pwdAttribute", []string{"userPassword"})
	policy.Attribute("pwdLockout", []string{"TRUE"})
	if err := c.Add(policy); err != nil {
		return fmt.Errorf("ldaptest: seed the password policy: %w", err)
	}
	return nil
}

// Stop ends slapd gracefully (SIGTERM, so mdb is flushed), keeping its files.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Kill ends slapd at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	s.cmd = nil
}

// Pause freezes slapd (SIGSTOP): connections are accepted by the kernel and never answered,
// as a hung server's are. Resume thaws it.
func (s *Server) Pause() error  { return s.signal(syscall.SIGSTOP) }
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return fmt.Errorf("ldaptest: slapd is not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Restart starts a stopped server again on the same ports and database.
func (s *Server) Restart() error {
	bin, err := exec.LookPath("slapd")
	if err != nil {
		bin = "/usr/sbin/slapd"
	}
	return s.run(bin)
}

// Remove stops the server and deletes its files.
func (s *Server) Remove() {
	s.Stop()
	_ = os.RemoveAll(s.dir)
}

// Main runs a test binary with a private slapd in *srv, removing it afterwards.
func Main(m *testing.M, srv **Server) {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*srv = s
	code := m.Run()
	s.Remove()
	os.Exit(code)
}

// TLSConfig trusts the test CA.
func (s *Server) TLSConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("ldaptest: bad CA file")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeCertificates makes a CA and a server certificate for 127.0.0.1 and localhost.
func writeCertificates(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "server.pem": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}
