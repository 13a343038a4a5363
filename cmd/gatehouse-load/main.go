// Command gatehouse-load measures the SCIM endpoint under load, the way the targets
// are stated: a real redis-server, the real gatehouse binary, and concurrent HTTP clients on
// this machine. It starts both itself on loopback ports, runs each phase for a bounded time,
// prints throughput, latency percentiles and Redis memory per user, and stops everything.
//
//	go run ./cmd/gatehouse-load [-users 100000] [-clients 16] [-phase 10s]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

const token = "load-test-token-0123456789"

func main() {
	users := flag.Int("users", 100000, "users to create (and to page through)")
	clients := flag.Int("clients", 16, "concurrent HTTP clients")
	phase := flag.Duration("phase", 10*time.Second, "how long the lookup, PATCH and page phases each run")
	binary := flag.String("gatehouse", "", "gatehouse binary (default: build ./cmd/gatehouse)")
	flag.Parse()
	if err := run(*users, *clients, *phase, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
		os.Exit(1)
	}
}

func run(users, clients int, phase time.Duration, binary string) error {
	dir, err := os.MkdirTemp("", "gatehouse-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if binary == "" {
		binary = filepath.Join(dir, "gatehouse")
		build := exec.Command("go", "build", "-o", binary, "./cmd/gatehouse")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	rs, err := redistest.Start()
	if err != nil {
		return err
	}
	defer rs.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()

	base, stop, err := startGateway(binary, rs.URL(), dir)
	if err != nil {
		return err
	}
	defer stop()
	l := &loader{base: base + "/scim/v2", clients: clients, rdb: rdb, http: &http.Client{Transport: &http.Transport{
		MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute,
	}, Timeout: 30 * time.Second}}

	fmt.Printf("gatehouse-load: %d users, %d clients, %s per timed phase, GOMAXPROCS of this process %s\n",
		users, clients, phase, os.Getenv("GOMAXPROCS"))
	memBefore := redistest.UsedMemory(rdb)
	ids := make([]string, users)
	created := l.fixed("create users", users, func(i int) error {
		body := entraUser(i)
		r, err := l.do("POST", "/Users", body, 201)
		if err == nil {
			ids[i] = str(r["id"])
		}
		return err
	})
	trail := waitForSeal(rdb, "gh:{load}:")
	total := redistest.UsedMemory(rdb) - memBefore
	fmt.Printf("  redis used_memory per user: %.0f bytes of identity data (typical Entra user body, %d bytes of JSON)"+
		" + %.0f bytes of audit trail (its create event, sealed) = %.0f\n",
		float64(total-trail)/float64(users), len(mustJSON(entraUser(0))), float64(trail)/float64(users), float64(total)/float64(users))
	if created.errors > 0 {
		return fmt.Errorf("%d creates failed", created.errors)
	}

	l.timed("lookup userName eq", phase, func(rng *rand.Rand) error {
		i := rng.IntN(users)
		raw, err := l.send("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName(i)+`"`), nil, 200)
		if err == nil && !bytes.Contains(raw, []byte(`"totalResults":1,`)) {
			err = fmt.Errorf("lookup of %s: %s", userName(i), raw)
		}
		return err
	})

	l.timed("PATCH active", phase, func(rng *rand.Rand) error {
		i := rng.IntN(users)
		_, err := l.send("PATCH", "/Users/"+ids[i], map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": rng.IntN(2) == 0}},
		}, 200)
		return err
	})

	pages := (users + 99) / 100
	l.timed("page of 100 users", phase, func(rng *rand.Rand) error {
		start := rng.IntN(pages)*100 + 1
		raw, err := l.send("GET", "/Users?startIndex="+strconv.Itoa(start)+"&count=100", nil, 200)
		if want := fmt.Sprintf(`"itemsPerPage":%d,`, min(100, users-start+1)); err == nil && !bytes.Contains(raw, []byte(want)) {
			err = fmt.Errorf("page at %d lacks %s", start, want)
		}
		return err
	})
	// One full walk, to show paging reaches every user exactly once.
	seen := make(map[string]bool, users)
	walkStart := time.Now()
	for start := 1; start <= users; start += 100 {
		r, err := l.do("GET", "/Users?startIndex="+strconv.Itoa(start)+"&count=100&attributes=id", nil, 200)
		if err != nil {
			return err
		}
		for _, res := range r["Resources"].([]any) {
			seen[str(res.(map[string]any)["id"])] = true
		}
	}
	fmt.Printf("  full walk: %d pages, %d distinct users in %s (one client)\n", pages, len(seen), time.Since(walkStart).Round(time.Millisecond))
	if len(seen) != users {
		return fmt.Errorf("the walk saw %d distinct users, want %d", len(seen), users)
	}
	return nil
}

func startGateway(binary, redisURL, dir string) (string, func(), error) {
	port, err := redistest.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := filepath.Join(dir, "load.yaml")
	if err := os.WriteFile(cfg, []byte("listen: "+addr+"\nlog: {level: warn}\nredis: {namespace: load}\n"), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(binary, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "GATEHOUSE_REDIS_URL="+redisURL, "GATEHOUSE_SCIM_TOKEN="+token)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, stop, nil
			}
		}
	}
	stop()
	return "", nil, fmt.Errorf("gateway at %s did not become ready", base)
}

type loader struct {
	base    string
	clients int
	http    *http.Client
	rdb     *redis.Client
}

type result struct {
	ok, errors int
	latencies  []time.Duration
	elapsed    time.Duration
}

// do sends a request and decodes the answer.
func (l *loader) do(method, path string, body any, want int) (map[string]any, error) {
	raw, err := l.send(method, path, body, want)
	var out map[string]any
	if err == nil && len(raw) > 0 {
		err = json.Unmarshal(raw, &out)
	}
	return out, err
}

// send sends a request and returns the raw answer: the hot phases check it without decoding,
// so the load client spends its share of the two cores sending, not parsing.
func (l *loader) send(method, path string, body any, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(body))
	}
	req, err := http.NewRequestWithContext(context.Background(), method, l.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := l.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return raw, nil
}

// fixed runs n operations spread over the clients.
func (l *loader) fixed(name string, n int, op func(i int) error) result {
	var next atomic.Int64
	return l.measure(name, func(_ *rand.Rand, lat *[]time.Duration) (int, int) {
		ok, bad := 0, 0
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return ok, bad
			}
			start := time.Now()
			if err := op(i); err != nil {
				bad++
				reportOnce(err)
				continue
			}
			*lat = append(*lat, time.Since(start))
			ok++
		}
	})
}

// timed runs operations on every client until the phase ends.
func (l *loader) timed(name string, d time.Duration, op func(rng *rand.Rand) error) result {
	deadline := time.Now().Add(d)
	return l.measure(name, func(rng *rand.Rand, lat *[]time.Duration) (int, int) {
		ok, bad := 0, 0
		for time.Now().Before(deadline) {
			start := time.Now()
			if err := op(rng); err != nil {
				bad++
				reportOnce(err)
				continue
			}
			*lat = append(*lat, time.Since(start))
			ok++
		}
		return ok, bad
	})
}

func (l *loader) measure(name string, worker func(*rand.Rand, *[]time.Duration) (int, int)) result {
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	cpuBefore := redistest.CPUSeconds(l.rdb)
	start := time.Now()
	for c := range l.clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			var lat []time.Duration
			ok, bad := worker(rng, &lat)
			mu.Lock()
			res.ok += ok
			res.errors += bad
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	ops := float64(max(res.ok, 1))
	fmt.Printf("  %-20s %7.0f/s  p50 %-8s p99 %-8s ok %d errors %d in %s; redis-server CPU %.0f µs/op\n", name,
		float64(res.ok)/res.elapsed.Seconds(), pct(res.latencies, 50), pct(res.latencies, 99), res.ok, res.errors,
		res.elapsed.Round(time.Millisecond), (redistest.CPUSeconds(l.rdb)-cpuBefore)*1e6/ops)
	return res
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100].Round(10 * time.Microsecond)
}

var reported atomic.Bool

func reportOnce(err error) {
	if reported.CompareAndSwap(false, true) {
		fmt.Fprintln(os.Stderr, "  first error:", err)
	}
}

func userName(i int) string { return fmt.Sprintf("load.user%06d@contoso.example", i) }

// entraUser is the body Entra ID sends for a typical member: the attributes of its default
// mapping.
func entraUser(i int) map[string]any {
	name := userName(i)
	return map[string]any{
		"schemas":           []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId":        fmt.Sprintf("loaduser%06d", i),
		"userName":          name,
		"active":            true,
		"displayName":       fmt.Sprintf("Load User %06d", i),
		"title":             "Software Engineer",
		"preferredLanguage": "en-US",
		"name":              map[string]any{"formatted": fmt.Sprintf("Load User %06d", i), "familyName": fmt.Sprintf("User%06d", i), "givenName": "Load"},
		"emails":            []any{map[string]any{"primary": true, "type": "work", "value": name}},
		"phoneNumbers":      []any{map[string]any{"type": "work", "value": "+1 555 0100"}, map[string]any{"type": "mobile", "value": "+1 555 0199"}},
		"addresses":         []any{map[string]any{"type": "work", "formatted": "1 Main St, Springfield", "streetAddress": "1 Main St", "locality": "Springfield", "postalCode": "12345", "country": "US", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
			"employeeNumber": strconv.Itoa(100000 + i), "department": "Engineering", "costCenter": "CC-100",
			"organization": "Contoso", "division": "R&D", "manager": map[string]any{"value": "00000000-0000-0000-0000-000000000000"},
		},
	}
}

// waitForSeal waits (up to 30 s) until every audit event is sealed, and answers the memory the
// trail holds: the event stream and its chain hashes.
func waitForSeal(rdb *redis.Client, prefix string) int64 {
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if rdb.XLen(ctx, prefix+"audit").Val() == rdb.HLen(ctx, prefix+"audit:chain").Val() {
			break
		}
	}
	var bytes int64
	for _, key := range []string{prefix + "audit", prefix + "audit:chain"} {
		bytes += rdb.MemoryUsage(ctx, key, 0).Val()
	}
	return bytes
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func str(v any) string { s, _ := v.(string); return s }
