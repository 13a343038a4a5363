package browsertest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// The gateway binary is built once per test binary, and removed by Main.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func build() (string, error) {
	binary.once.Do(func() {
		dir, err := root()
		if err != nil {
			binary.err = err
			return
		}
		if binary.dir, err = os.MkdirTemp("", "gatehouse-bin-"); err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(binary.dir, "gatehouse")
		// With the race detector, as the conformance suite builds it: scenarios drive the
		// gateway's concurrent paths too, and the two builds share Go's build cache.
		cmd := exec.Command("go", "build", "-race", "-o", binary.path, "./cmd/gatehouse")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("browsertest: go build ./cmd/gatehouse: %w\n%s", err, out)
		}
	})
	return binary.path, binary.err
}

// Gateway is the real gatehouse binary, serving on a free loopback port against a private
// redis-server of its own.
type Gateway struct {
	URL   string // http://127.0.0.1:<port>, with no trailing slash
	Redis *redistest.Server
	cmd   *exec.Cmd
	out   *output
}

// output is the gateway's stdout and stderr together, written by the process's copiers while
// the test reads it.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Output is what the gateway has printed so far: the banner (with the demo's one-time tokens)
// and its logs.
func (g *Gateway) Output() string { return g.out.String() }

// StartGateway builds the binary (once per test binary), and starts it with the YAML
// configuration given, or with the embedded demo configuration when config is empty. Its
// listen address and Redis URL are the harness's, through GATEHOUSE_ADDR and
// GATEHOUSE_REDIS_URL; no other GATEHOUSE_ variable of the test's environment reaches it. It
// returns once /healthz answers, and stops the gateway and its Redis at the test's cleanup,
// logging the gateway's output when the test failed.
func StartGateway(t testing.TB, config string) *Gateway {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve"}
	if config != "" {
		file := filepath.Join(t.TempDir(), "gatehouse.yaml")
		if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", file)
	}
	g := &Gateway{URL: "http://" + addr, Redis: srv, out: &output{}}
	g.cmd = exec.Command(bin, args...)
	g.cmd.Env = append(environWithout("GATEHOUSE_"), "GATEHOUSE_ADDR="+addr, "GATEHOUSE_REDIS_URL="+srv.URL())
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("browsertest: start the gateway: %v", err)
	}
	// exited closes when the process has ended; waitErr is read only after that.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = g.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = g.cmd.Process.Kill()
			<-exited
			t.Errorf("browsertest: the gateway did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", g.Output())
		}
	})
	if err := waitHealthy(g.URL, exited, &waitErr); err != nil {
		t.Fatalf("browsertest: %v\ngateway output:\n%s", err, g.Output())
	}
	return g
}

// waitHealthy polls /healthz until it answers 200, the process exits, or 60s pass (a cold
// gateway on a loaded two-core machine takes seconds).
func waitHealthy(url string, exited <-chan struct{}, waitErr *error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			if *waitErr == nil {
				return errors.New("the gateway exited before /healthz answered")
			}
			return fmt.Errorf("the gateway exited before /healthz answered: %w", *waitErr)
		default:
		}
		resp, err := client.Get(url + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("it answered %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway's /healthz did not answer 200 within 60s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// environWithout is the test's environment less the variables with the prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
