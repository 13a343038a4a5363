// Command gatehouse is the Gatehouse identity governance gateway. `gatehouse help` lists its
// commands (see usage).
package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/config"
	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/fixtures"
	"github.com/gatehouse-iam/gatehouse/gateway"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/duty"
	"github.com/gatehouse-iam/gatehouse/notify"
	"github.com/gatehouse-iam/gatehouse/portal"
	"github.com/gatehouse-iam/gatehouse/portal/demoidp"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
	"github.com/gatehouse-iam/gatehouse/scim"
)

// wallClock is the gateway's one clock, read nowhere else: every store, service and duty is
// given it here, so tests give them a clock of their own and never depend on today's date.
func wallClock() time.Time { return time.Now() } // wall clock: wired here once

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: gatehouse [command] [arguments]

Commands:
  serve [--config FILE]          run the gateway (the default command)
  check-config [FILE]            report every problem of a configuration file at once, then exit
                                 (or --config FILE)
  audit verify [--config FILE] [--checkpoint FILE] [--public-key FILE]
                                 check the audit trail's hash chain, and that it holds the signed
                                 checkpoints given; exit 1 if not. It needs only the Redis
                                 settings and the checkpoints' public keys
  audit keygen --out FILE        make a key to sign audit checkpoints with (prints the public key)
  probe URL                      exit 0 when URL answers 200 (container health checks)
  version                        print the version
  help                           print this help

Without a configuration file, the embedded demo configuration is used.
Exit status: 0 success, 1 a problem found or a failure, 2 a usage error.
`

// version is set at build time (-ldflags "-X main.version=v1.2.3"); otherwise the build's own
// module and VCS information tell it.
var version = ""

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cmd == "audit" && len(args) > 0 && (args[0] == "verify" || args[0] == "keygen") {
		cmd, args = "audit "+args[0], args[1:]
	}
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "probe":
		return probe(args, stderr)
	case "serve", "check-config", "audit verify", "audit keygen", "version":
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet("gatehouse "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // usage errors are reported below, help goes to stdout
	configPath, keyOut := new(string), new(string)
	var check checkpointFlags
	switch cmd {
	case "version":
	case "audit keygen":
		fs.StringVar(keyOut, "out", "", "file to write the private key to (PEM); it must not exist")
	case "audit verify":
		fs.StringVar(&check.file, "checkpoint", "", "signed checkpoints kept outside Redis (JSON lines): the trail must hold each one")
		fs.StringVar(&check.publicKey, "public-key", "", "PEM public key the checkpoints are signed with, besides audit.checkpoints.publicKeys")
		fallthrough
	default:
		fs.StringVar(configPath, "config", "", "YAML configuration file (default: the embedded demo configuration)")
	}
	positional, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "gatehouse %s: %v\n\n%s", cmd, err, usage)
		return 2
	}
	if cmd == "check-config" && len(positional) > 0 && *configPath == "" {
		*configPath, positional = positional[0], positional[1:]
	}
	if len(positional) > 0 {
		fmt.Fprintf(stderr, "gatehouse %s: unexpected argument %q\n\n%s", cmd, positional[0], usage)
		return 2
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "gatehouse", buildVersion())
		return 0
	case "audit keygen":
		if err := keygen(*keyOut, stdout); err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return 1
		}
		return 0
	}
	cfg, err := load(*configPath, cmd == "audit verify")
	if cmd == "check-config" {
		// What only the connectors check (settings that depend on one another), as serve would
		// meet it at start; nothing is dialled.
		if _, cerr := newConnectors(cfg.Connectors); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "configuration %s has problems:\n%v", configName(*configPath), indent(err))
		return 1
	}
	switch cmd {
	case "check-config":
		fmt.Fprintf(stdout, "configuration %s is OK\n", configName(*configPath))
		return 0
	case "audit verify":
		err = verifyAudit(cfg, check, stdout)
	default:
		err = serve(cfg, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	return 0
}

// parseInterleaved parses flags wherever they stand among the positional arguments, which it
// returns: flag.Parse alone stops at the first of them, so "check-config a.yaml --config b.yaml"
// would take --config for a file name.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional, args = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
}

func configName(path string) string {
	if path == "" {
		return "(the embedded demo configuration)"
	}
	return path
}

// buildVersion is the version set at build time, else the module version and VCS revision
// the Go toolchain recorded.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v, revision, modified := info.Main.Version, "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" {
		v += " (commit " + revision[:min(12, len(revision))]
		if modified {
			v += ", modified"
		}
		v += ")"
	}
	return v
}

// probe is a container health check for images without a shell: GET the URL, exit 0 on a 200.
func probe(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: gatehouse probe http://127.0.0.1:8080/readyz")
		return 2
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(args[0]) //nolint:gosec,noctx // the health check GETs the URL it is given; the client times out
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 1
	}
	_ = resp.Body.Close() // only the status matters
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "probe: %s answered %d\n", args[0], resp.StatusCode)
		return 1
	}
	return 0
}

// checkpointFlags are where `audit verify` finds checkpoints and the key they are signed with.
type checkpointFlags struct{ file, publicKey string }

// verifyAudit walks the whole trail and recomputes its chain, and checks it against the signed
// checkpoints given; it changes nothing.
func verifyAudit(cfg config.Config, check checkpointFlags, stdout io.Writer) error {
	if cfg.Redis.URL == "" && cfg.Redis.Sentinel.MasterName == "" && len(cfg.Redis.ClusterAddrs) == 0 {
		return errors.New("audit verify needs the Redis the gateway uses: set redis in the configuration or GATEHOUSE_REDIS_URL")
	}
	// The checkpoints are read before the trail's head, so that none is newer than the head.
	checkpoints, err := trustedCheckpoints(cfg.Audit.Checkpoints, check)
	if err != nil {
		return err
	}
	rdb, stop, err := connectRedis(cfg.Redis, zap.NewNop())
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	store := redisstore.New(rdb, cfg.Redis.Namespace, wallClock)
	v, err := governance.VerifyTrail(ctx, store, checkpoints...)
	if err != nil {
		return err
	}
	if v.Sealed == 0 {
		fmt.Fprintf(stdout, "audit trail verifies: no event sealed yet; %d appended, not yet sealed\n", v.Pending)
	} else {
		fmt.Fprintf(stdout, "audit trail verifies: %d events sealed up to %s; %d appended since, not yet sealed\n", v.Sealed, v.HeadID, v.Pending)
	}
	if len(checkpoints) == 0 {
		fmt.Fprintln(stdout, "no checkpoint given: this shows the trail agrees with itself, not that nobody who can write to Redis rewrote it; "+
			"give the signed checkpoints kept outside Redis with --checkpoint (docs/security.md)")
		return nil
	}
	newest := slices.MaxFunc(checkpoints, func(a, b governance.Checkpoint) int { return cmp.Compare(a.Count, b.Count) })
	fmt.Fprintf(stdout, "it holds all %d signed checkpoints given; the newest, signed at %s with key %s, covers the first %d events, up to %s: "+
		"none of them was changed, removed or reordered since\n",
		len(checkpoints), newest.At.Format(time.RFC3339), newest.KeyID, newest.Count, newest.Position)
	return nil
}

// trustedCheckpoints reads the checkpoints given and checks every signature: one that does not
// verify is an error, never skipped.
func trustedCheckpoints(cfg config.Checkpoints, check checkpointFlags) ([]governance.Checkpoint, error) {
	if check.file == "" {
		if check.publicKey != "" {
			return nil, errors.New("--public-key checks the checkpoints given with --checkpoint: give them too")
		}
		return nil, nil
	}
	pubs, err := cfg.Verifiers()
	if err != nil {
		return nil, fmt.Errorf("audit.checkpoints: %w", err)
	}
	if check.publicKey != "" {
		data, err := os.ReadFile(check.publicKey)
		if err != nil {
			return nil, fmt.Errorf("--public-key: %w", err)
		}
		pub, err := config.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("--public-key %s: %w", check.publicKey, err)
		}
		pubs = append(pubs, pub)
	}
	if len(pubs) == 0 {
		return nil, errors.New("checkpoints are checked with the public key that signed them: give --public-key or set audit.checkpoints.publicKeys")
	}
	data, err := os.ReadFile(check.file)
	if err != nil {
		return nil, fmt.Errorf("--checkpoint: %w", err)
	}
	checkpoints, err := governance.ParseCheckpoints(data)
	if err != nil {
		return nil, fmt.Errorf("--checkpoint %s: %w", check.file, err)
	}
	keys := governance.NewCheckpointKeys(pubs...)
	for i, c := range checkpoints {
		if err := keys.Verify(c); err != nil {
			return nil, fmt.Errorf("--checkpoint %s, checkpoint %d: %w", check.file, i+1, err)
		}
	}
	return checkpoints, nil
}

// keygen makes an Ed25519 key for signing checkpoints: the private key goes to a new file
// only its owner may read, the public key to stdout, for the verifiers' configuration.
func keygen(path string, stdout io.Writer) error {
	if path == "" {
		return errors.New("audit keygen needs --out FILE, a new file for the private key")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // the operator names the key file
	if err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = f.Close() // the encoding error is the one to report
		return fmt.Errorf("audit keygen: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	fmt.Fprintf(stdout, "private key written to %s: give it to the gateway as audit.checkpoints.signingKey: file:%s\n", path, path)
	fmt.Fprintf(stdout, "key id %s; public key, for audit.checkpoints.publicKeys or --public-key:\n", governance.CheckpointKeyID(pub))
	return pem.Encode(stdout, &pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
}

// load reads and checks the configuration at path (the embedded demo's for ""); verifier
// checks only what `audit verify` needs.
func load(path string, verifier bool) (config.Config, error) {
	data := fixtures.DemoConfig()
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil { //nolint:gosec // the operator names the configuration file
			return config.Config{}, err
		}
	}
	if verifier {
		return config.LoadVerifier(data, os.Getenv)
	}
	return config.Load(data, os.Getenv)
}

func indent(err error) string {
	var b strings.Builder
	for _, line := range strings.Split(err.Error(), "\n") {
		b.WriteString("  - " + line + "\n")
	}
	return b.String()
}

func serve(cfg config.Config, stdout io.Writer) error {
	log, err := newLogger(cfg.Log.Level, zapcore.Lock(os.Stderr))
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	redis.SetLogger(redisLogger{log.Named("redis")})
	rdb, stopRedis, err := connectRedis(cfg.Redis, log)
	if err != nil {
		return err
	}
	defer stopRedis()
	now := wallClock
	store := redisstore.New(rdb, cfg.Redis.Namespace, now)

	clients, demoToken, err := scimClients(cfg)
	if err != nil {
		return err
	}
	scimServer, err := scim.New(store, scim.Options{
		PublicURL: cfg.PublicURL, MaxResults: cfg.SCIM.MaxResults, MaxBodyBytes: cfg.SCIM.MaxBodyBytes, Clients: clients,
	}, log.Named("scim"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cfg.Demo {
		if err := scimServer.Seed(ctx, fixtures.DemoUsers(), fixtures.DemoGroups()); err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
	}
	svc, err := governed(ctx, cfg, store, now, log)
	if err != nil {
		return err
	}
	var demoAPI map[string]string
	var extraTokens []api.Token
	if cfg.Demo {
		if err := seedCatalog(ctx, store, svc.access.People, now); err != nil {
			return fmt.Errorf("load demo catalog: %w", err)
		}
		if err := seedServiceAccounts(ctx, svc.serviceAccounts, now); err != nil {
			return fmt.Errorf("load demo service accounts: %w", err)
		}
		if len(cfg.API.Tokens) == 0 {
			if extraTokens, demoAPI, err = demoAPITokens(); err != nil {
				return err
			}
		}
	}
	apiServer, err := newAPI(cfg.API, extraTokens, svc, store, log.Named("api"))
	if err != nil {
		return err
	}
	frontDoor, err := newPortal(cfg, svc, store, now, log.Named("portal"))
	if err != nil {
		return err
	}
	engine := gateway.New(gateway.Options{Log: log.Named("http"), Ready: store.Ping,
		Collectors: append(provisioning.Metrics(store, svc.access.Catalog), reviews.Metrics{Store: store}),
		Unmatched:  map[string]func(*gin.Context, int){api.Prefix: api.Unmatched}, FrontDoor: frontDoor})
	scimServer.Mount(engine)
	apiServer.Mount(engine)

	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: engine, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	}
	banner(stdout, cfg, ln.Addr().String(), demoToken, demoAPI)
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("scim_base_url", cfg.PublicURL+scim.Prefix))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// services are the governance services the API serves.
type services struct {
	access          *governance.Access
	breakGlass      *governance.BreakGlass
	serviceAccounts *governance.ServiceAccounts
	connector       func(name string) (connectors.Connector, bool)
	drift           *provisioning.Reconciler
	reviews         *reviews.Service
	audit           *governance.AuditReader
}

// governed builds the governance services on the store and starts their background duties.
// Every replica runs the same duties (see duty.Duty).
func governed(ctx context.Context, cfg config.Config, store *redisstore.Store, now func() time.Time, log *zap.Logger) (services, error) {
	requests := &governance.Requests{Store: store, Now: now, NewID: uuid.NewString}
	grants := &governance.Grants{Store: store, Now: now, Ended: requests.WithdrawExtensions}
	people := &governance.People{Store: store}
	catalog := &governance.Catalog{Store: store, Identities: store, Now: now, NewID: uuid.NewString}
	access := &governance.Access{
		Catalog: catalog, Requests: requests, Grants: grants, People: people, Approved: store, ServiceAccounts: store,
	}
	targets, err := newConnectors(cfg.Connectors)
	if err != nil {
		return services{}, err
	}
	connector := func(name string) (connectors.Connector, bool) { c, ok := targets[name]; return c, ok }
	worker := &provisioning.Worker{Queue: store, Grants: grants, Catalog: catalog, People: people, ServiceAccounts: store,
		Connector: connector, MaxAttempts: cfg.Provisioning.MaxAttempts, MaxBackoff: cfg.Provisioning.MaxBackoff,
		Parallel: cfg.Provisioning.Parallel, Now: now}
	// Every change is reconciled at once by the caller, and queued in case that fails.
	grants.Provisioning = provisioning.Inline{Worker: worker}
	serviceAccounts := &governance.ServiceAccounts{Store: store, People: people, MaxDeadline: cfg.ServiceAccounts.MaxDeadline,
		RemindBefore: cfg.ServiceAccounts.RemindBefore, Now: now}
	if n, err := serviceAccounts.AssignDeadlines(ctx); err != nil {
		return services{}, fmt.Errorf("service account deadlines: %w", err)
	} else if n > 0 {
		log.Info("gave service accounts stored without a deadline one", zap.Int("accounts", n))
	}
	// Changes proposed before the pending ones had an index of their own are filed in it once.
	if n, err := store.IndexPendingChanges(ctx); err != nil {
		return services{}, fmt.Errorf("pending catalog changes: %w", err)
	} else if n > 0 {
		log.Info("indexed the pending catalog changes stored before their index", zap.Int("changes", n))
	}
	links := portalLinks(cfg)
	var notifier governance.Notifier = notify.Log{Log: log.Named("breakglass")}
	if hook, err := webhook(cfg.BreakGlass.Webhook, now); err != nil {
		return services{}, fmt.Errorf("breakGlass.webhook: %w", err)
	} else if hook != nil {
		hook.Links = links
		notifier = hook
	}
	breakGlass := &governance.BreakGlass{Access: access, Incidents: store, Notifier: notifier, IncidentSLA: cfg.BreakGlass.ReviewSLA, Now: now}
	access.BreakGlass = breakGlass
	reviewNotices, err := peopleNotifier(cfg.Reviews, links, now, log.Named("reviews"))
	if err != nil {
		return services{}, fmt.Errorf("reviews: %w", err)
	}
	approvalNotices, err := peopleNotifier(cfg.Reviews, links, now, log.Named("approvals"))
	if err != nil {
		return services{}, fmt.Errorf("reviews: %w", err)
	}
	told := &governance.ApproverNotices{Access: access, Store: store, Notifier: approvalNotices, Now: now}
	ownerNotices, err := peopleNotifier(cfg.Reviews, links, now, log.Named("serviceaccounts"))
	if err != nil {
		return services{}, fmt.Errorf("reviews: %w", err)
	}
	deadlines := &governance.ServiceAccountDeadlines{Accounts: serviceAccounts, Store: store, Grants: grants, Requests: requests,
		Notifier: ownerNotices, Now: now}
	rev := &reviews.Service{CampaignStore: store, CycleStore: store, ItemStore: store, NoticeStore: store,
		Access: access, Trail: store, Notifier: reviewNotices, Now: now}
	drift := &provisioning.Reconciler{Worker: worker, Store: store, Reviews: rev, Every: cfg.ReconcileEvery}
	leavers := &governance.Leavers{Store: store, Requests: requests, Grants: grants, ServiceAccounts: serviceAccounts, Reviews: rev,
		Sessions: store.Sessions(), People: people, Now: now}
	governed := &governance.Governed{Access: access, Queue: store, Now: now}
	// Each part offers its duties; the wiring only says which run here.
	duties := []duty.Duty{governance.SealDuty(store), requests.Duty(), access.Duty(), grants.Duty(), leavers.Duty(), breakGlass.Duty(),
		told.Duty(), governed.Duty(), worker.Duty(), drift.Duty(), deadlines.Duty()}
	duties = append(duties, rev.Duties()...)
	siem, err := webhook(cfg.Audit.SIEM, now)
	if err != nil {
		return services{}, fmt.Errorf("audit.siem: %w", err)
	}
	if siem != nil {
		forwarder := &governance.Forwarder{Name: "siem", Trail: store, Cursors: store, Batch: 500,
			Deliver: func(ctx context.Context, events []governance.ForwardedEvent) error {
				return siem.Notify(ctx, "audit.events", events)
			}}
		duties = append(duties, forwarder.Duty())
	}
	key, keys, err := checkpointKeys(cfg.Audit.Checkpoints)
	if err != nil {
		return services{}, fmt.Errorf("audit.checkpoints: %w", err)
	}
	if key != nil {
		checkpointer, err := newCheckpointer(cfg.Audit.Checkpoints, key, keys, store, siem, now)
		if err != nil {
			return services{}, fmt.Errorf("audit.checkpoints: %w", err)
		}
		duties = append(duties, checkpointer.Duty())
	}
	duty.Start(ctx, log, duties...)
	return services{access: access, breakGlass: breakGlass, serviceAccounts: serviceAccounts, connector: connector, drift: drift,
		reviews: rev, audit: &governance.AuditReader{Trail: store, Checkpoints: store, Keys: keys}}, nil
}

// checkpointKeys are the keys audit checkpoints are checked with: the public keys configured
// and the signing key's own half. The signing key is nil when checkpoints are off.
func checkpointKeys(cfg config.Checkpoints) (ed25519.PrivateKey, governance.CheckpointKeys, error) {
	pubs, err := cfg.Verifiers()
	if err != nil {
		return nil, nil, err
	}
	var key ed25519.PrivateKey
	if cfg.SigningKey != "" {
		if key, err = cfg.Key(); err != nil {
			return nil, nil, fmt.Errorf("signingKey: %w", err)
		}
		pubs = append(pubs, key.Public().(ed25519.PublicKey))
	}
	return key, governance.NewCheckpointKeys(pubs...), nil
}

// newCheckpointer signs the trail's head after each seal and publishes it to the file, the
// webhook and the SIEM configured.
func newCheckpointer(cfg config.Checkpoints, key ed25519.PrivateKey, keys governance.CheckpointKeys, store *redisstore.Store,
	siem *notify.Webhook, now func() time.Time) (*governance.Checkpointer, error) {
	notifier := func(hook *notify.Webhook) func(context.Context, governance.Checkpoint) error {
		return func(ctx context.Context, c governance.Checkpoint) error {
			return hook.Notify(ctx, "audit.checkpoint", c)
		}
	}
	var sinks []governance.CheckpointSink
	if cfg.File != "" {
		sinks = append(sinks, governance.CheckpointSink{Name: "file", Publish: notify.CheckpointFile{Path: cfg.File}.Publish})
	}
	if hook, err := webhook(cfg.Webhook, now); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	} else if hook != nil {
		sinks = append(sinks, governance.CheckpointSink{Name: "webhook", Publish: notifier(hook)})
	}
	if siem != nil {
		sinks = append(sinks, governance.CheckpointSink{Name: "siem", Publish: notifier(siem)})
	}
	return &governance.Checkpointer{Trail: store, Store: store, Key: key, Keys: keys, Sinks: sinks, Now: now}, nil
}

// newConnectors builds the configured connectors by name, or reports what is wrong with each.
func newConnectors(cfgs []config.Connector) (map[string]connectors.Connector, error) {
	out := map[string]connectors.Connector{}
	var errs []error
	for _, c := range cfgs {
		if c.Settings == nil {
			continue // an unknown type or a missing section, which validation reports
		}
		conn, err := c.Settings.Open(config.ResolveSecret)
		if err != nil {
			errs = append(errs, fmt.Errorf("connector %s: %w", c.Name, err))
			continue
		}
		out[c.Name] = conn
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func banner(w io.Writer, cfg config.Config, addr, demoToken string, demoAPI map[string]string) {
	if portalOn(cfg) {
		fmt.Fprintf(w, "Gatehouse portal: %s/\n", cfg.Portal.PublicURL)
		if cfg.Demo && cfg.Portal.Issuer == "" {
			fmt.Fprintf(w, "  (demo mode: sign in as one of the demo people through the built-in demo identity provider)\n")
		}
	}
	fmt.Fprintf(w, "Gatehouse is listening on %s\n", addr)
	fmt.Fprintf(w, "  SCIM base URL: %s%s\n", cfg.PublicURL, scim.Prefix)
	if demoToken != "" {
		fmt.Fprintf(w, "  Authenticate with: Authorization: Bearer %s\n", demoToken)
		fmt.Fprintf(w, "  (a one-time demo token; set GATEHOUSE_SCIM_TOKEN to choose your own)\n")
	} else {
		fmt.Fprintf(w, "  Authenticate with: Authorization: Bearer <the token of a configured SCIM client>\n")
	}
	fmt.Fprintf(w, "  Try: curl -H 'Authorization: Bearer <token>' %s%s/Users\n", cfg.PublicURL, scim.Prefix)
	fmt.Fprintf(w, "  REST API: %s%s (OpenAPI at %s%s/openapi.json)\n", cfg.PublicURL, api.Prefix, cfg.PublicURL, api.Prefix)
	for _, u := range demoUsers {
		if tok, ok := demoAPI[u]; ok {
			fmt.Fprintf(w, "    as %-31s Authorization: Bearer %s\n", u, tok)
		}
	}
	if len(demoAPI) > 0 {
		fmt.Fprintf(w, "    (one-time demo tokens: grace asks, ada then katherine approve, alan audits, margaret has no role)\n")
	}
	if cfg.Redis.URL == "" && cfg.Redis.Sentinel.MasterName == "" && len(cfg.Redis.ClusterAddrs) == 0 {
		fmt.Fprintf(w, "  Storage: embedded in-process Redis; nothing survives a restart (set GATEHOUSE_REDIS_URL)\n")
	}
}

// newAPI resolves the API's tokens and role groups.
func newAPI(cfg config.API, tokens []api.Token, svc services, store *redisstore.Store, log *zap.Logger) (*api.Server, error) {
	for _, t := range cfg.Tokens {
		sum, err := t.Token.TokenHash()
		if err != nil {
			return nil, fmt.Errorf("api token %s: %w", t.Name, err)
		}
		tok := api.Token{Name: t.Name, Hash: sum, UserName: t.User}
		for _, r := range t.Roles {
			tok.Roles = append(tok.Roles, api.Role(r))
		}
		tokens = append(tokens, tok)
	}
	return api.New(api.Options{
		Access: svc.access, BreakGlass: svc.breakGlass, ServiceAccounts: svc.serviceAccounts, Connector: svc.connector, Drift: svc.drift,
		Provisioning: svc.drift.Worker, Reviews: svc.reviews,
		Audit: svc.audit, Identities: store,
		Tokens: tokens, RoleGroups: roleGroups(cfg.Roles),
		OIDC: api.OIDC{Issuer: cfg.OIDC.Issuer, Audience: cfg.OIDC.Audience, Timeout: cfg.OIDC.Timeout,
			Map: governance.SignInMapping{Claim: cfg.OIDC.UserClaim, Attribute: cfg.OIDC.UserAttribute}},
		MaxBodyBytes: cfg.MaxBodyBytes,
	}, log), nil
}

// roleGroups are the configured roles, by the groups that give them: the API and the portal
// resolve roles from the same ones.
func roleGroups(cfg map[string][]string) map[governance.Role][]string {
	out := map[governance.Role][]string{}
	for r, groups := range cfg {
		out[governance.Role(r)] = groups
	}
	return out
}

// portalOn: the portal runs with an identity provider to sign in at, configured or the demo's.
func portalOn(cfg config.Config) bool { return cfg.Portal.Issuer != "" || cfg.Demo }

// portalLinks point notifications at the portal's pages; with the portal off they carry none.
func portalLinks(cfg config.Config) notify.Links {
	if !portalOn(cfg) {
		return notify.Links{}
	}
	return notify.Links{Base: cfg.Portal.PublicURL}
}

// newPortal builds the portal, signing in at the configured identity provider or, in demo mode
// without one, at the demo identity provider it serves itself; nil when the portal is off.
func newPortal(cfg config.Config, svc services, store *redisstore.Store, now func() time.Time, log *zap.Logger) (http.Handler, error) {
	if !portalOn(cfg) {
		return nil, nil
	}
	p := cfg.Portal
	oidcCfg := portal.OIDC{Issuer: p.Issuer, ClientID: p.ClientID, RedirectURL: p.PublicURL + "/auth/callback",
		Map:    governance.SignInMapping{Claim: cfg.API.OIDC.UserClaim, Attribute: cfg.API.OIDC.UserAttribute},
		Client: &http.Client{Timeout: cfg.API.OIDC.Timeout}}
	if p.ClientSecret != "" {
		secret, err := p.ClientSecret.Resolve()
		if err != nil {
			return nil, fmt.Errorf("portal.clientSecret: %w", err)
		}
		oidcCfg.ClientSecret = secret
	}
	var demoIdP http.Handler
	if p.Issuer == "" {
		oidcCfg.Issuer, oidcCfg.ClientID = p.PublicURL+"/demo-idp", "gatehouse-portal"
		users, err := demoIdPUsers(cfg.API.OIDC.UserAttribute)
		if err != nil {
			return nil, err
		}
		idp, err := demoidp.New(oidcCfg.Issuer, oidcCfg.ClientID, oidcCfg.RedirectURL, users, now)
		if err != nil {
			return nil, err
		}
		demoIdP = idp
	}
	return portal.New(portal.Options{Access: svc.access, BreakGlass: svc.breakGlass, ServiceAccounts: svc.serviceAccounts, Drift: svc.drift,
		Reviews: svc.reviews, Audit: svc.audit, Attach: &provisioning.Attach{Catalog: svc.access.Catalog, Connector: svc.connector},
		Roles:    governance.RoleGroups{Groups: roleGroups(cfg.API.Roles), Identities: store},
		Sessions: store.Sessions(), OIDC: oidcCfg, PublicURL: p.PublicURL, IdleTimeout: p.IdleTimeout, Lifetime: p.Lifetime,
		Demo: cfg.Demo, DemoIdP: demoIdP, Now: now, Log: log})
}

// webhook builds the notifier for a configured webhook; nil when none is configured.
func webhook(cfg config.Webhook, now func() time.Time) (*notify.Webhook, error) {
	if cfg.URL == "" {
		return nil, nil
	}
	w := &notify.Webhook{URL: cfg.URL, Client: &http.Client{Timeout: 10 * time.Second}, Now: now}
	if cfg.Secret != "" {
		secret, err := cfg.Secret.Resolve()
		if err != nil {
			return nil, err
		}
		w.Secret = []byte(secret)
	}
	return w, nil
}

// scimClients resolves every client's token to its hash. A demo with no client at all gets a
// random one-time token, shown once on the terminal and never logged.
func scimClients(cfg config.Config) ([]scim.Client, string, error) {
	var clients []scim.Client
	for _, c := range cfg.SCIM.Clients {
		sum, err := c.Token.TokenHash()
		if err != nil {
			return nil, "", fmt.Errorf("scim client %s: %w", c.Name, err)
		}
		clients = append(clients, scim.Client{Name: c.Name, TokenHash: sum})
	}
	if len(clients) > 0 || !cfg.Demo {
		return clients, "", nil
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	token := "demo-" + hex.EncodeToString(b[:])
	return []scim.Client{{Name: "demo", TokenHash: sha256.Sum256([]byte(token))}}, token, nil
}

// connectRedis opens the configured Redis, or starts an embedded one when none is configured.
func connectRedis(cfg config.Redis, log *zap.Logger) (redis.UniversalClient, func(), error) {
	opts := &redis.UniversalOptions{PoolSize: cfg.PoolSize, Username: cfg.Username}
	for field, s := range map[*string]config.Secret{&opts.Password: cfg.Password, &opts.SentinelPassword: cfg.Sentinel.Password} {
		if s != "" {
			v, err := s.Resolve()
			if err != nil {
				return nil, nil, err
			}
			*field = v
		}
	}
	stop := func() {}
	switch {
	case cfg.Sentinel.MasterName != "":
		opts.MasterName, opts.Addrs = cfg.Sentinel.MasterName, cfg.Sentinel.Addrs
	case len(cfg.ClusterAddrs) > 0:
		opts.Addrs, opts.IsClusterMode = cfg.ClusterAddrs, true
	case cfg.URL != "":
		u, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("redis.url: %w", err)
		}
		opts.Addrs, opts.Username, opts.Password, opts.DB, opts.TLSConfig = []string{u.Addr}, u.Username, u.Password, u.DB, u.TLSConfig
	default:
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		log.Warn("using an embedded in-process Redis: nothing survives a restart; set GATEHOUSE_REDIS_URL for real use")
		opts.Addrs, stop = []string{mr.Addr()}, mr.Close
	}
	rdb := redis.NewUniversalClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		log.Warn("redis is not reachable yet; /readyz reports it", zap.Error(err))
	}
	return rdb, func() { _ = rdb.Close(); stop() }, nil
}

// redisLogger sends go-redis's own messages (pool and reconnection trouble) to the JSON log
// instead of plain text on stderr.
type redisLogger struct{ log *zap.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

// newLogger writes JSON lines to out, repeats of a warning quieted (see quietCore).
func newLogger(level string, out zapcore.WriteSyncer, opts ...zap.Option) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), out, lvl)
	return zap.New(quiet(core, quietPeriod), append([]zap.Option{zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel), zap.ErrorOutput(out)}, opts...)...), nil
}
