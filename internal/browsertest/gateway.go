package browsertest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/gatewaytest"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// Gateway is the real gatehouse binary, serving on a free loopback port against a private
// redis-server of its own.
type Gateway struct {
	URL   string // http://127.0.0.1:<port>, with no trailing slash
	Redis *redistest.Server
	proc  *gatewaytest.Process
}

// Output is what the gateway has printed so far: the banner (with the demo's one-time tokens)
// and its logs.
func (g *Gateway) Output() string { return g.proc.Output() }

// StartGateway builds the binary (once per test binary), and starts it with the YAML
// configuration given, or with the embedded demo configuration when config is empty. Its
// listen address and Redis URL are the harness's, through GATEHOUSE_ADDR and
// GATEHOUSE_REDIS_URL; no other GATEHOUSE_ variable of the test's environment reaches it. It
// returns once the gateway is ready, and stops the gateway and its Redis at the test's
// cleanup, logging the gateway's output when the test failed.
func StartGateway(t testing.TB, config string) *Gateway {
	t.Helper()
	bin, err := gatewaytest.Build()
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
	proc, err := gatewaytest.Start(bin, "http://"+addr, args, []string{"GATEHOUSE_ADDR=" + addr, "GATEHOUSE_REDIS_URL=" + srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{URL: proc.URL, Redis: srv, proc: proc}
	t.Cleanup(func() {
		if err := proc.Stop(10 * time.Second); err != nil {
			t.Errorf("browsertest: stopping the gateway: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", g.Output())
		}
	})
	return g
}
