// Package redistest starts a private redis-server on a free loopback port for tests that need a
// real one: durability, concurrency and Lua semantics the embedded Redis only imitates.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Server is one private redis-server.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
	args []string
}

// Start launches redis-server; it fails, never skips, when the binary is missing, because a
// test that quietly does not run proves nothing. `make test` installs it.
func Start(extraArgs ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redistest: redis-server is not installed: run `make test` (it installs it as root) or `apt-get install redis-server`")
	}
	dir, err := os.MkdirTemp("", "gatehouse-redis-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir}
		s.args = append([]string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, extraArgs...)
		if lastErr = s.run(); lastErr == nil {
			return s, nil
		}
		s.Kill()
	}
	return nil, fmt.Errorf("redistest: redis-server did not come up: %w", lastErr)
}

// FreePort finds a free loopback port whose port+10000 is free as well (a Redis Cluster bus
// listens there); other servers under test use it too.
func FreePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port > 55535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("redistest: no free port pair")
}

func (s *Server) waitReady(limit time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) run() error {
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	return s.waitReady(5 * time.Second)
}

// Kill ends the server at once (SIGKILL), keeping its files, as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Restart starts a killed server again on the same port and directory.
func (s *Server) Restart() error { return s.run() }

// Stop ends the server and removes its files.
func (s *Server) Stop() {
	s.Kill()
	_ = os.RemoveAll(s.dir)
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

var namespaces atomic.Int64

// Namespace returns a namespace no other test in this process uses, so tests can share one
// server without seeing each other's keys.
func Namespace() string {
	return fmt.Sprintf("t%d-%d", os.Getpid(), namespaces.Add(1))
}

// Client connects to the server for one test.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Main runs a test binary with a private server in *srv, stopping it afterwards.
func Main(m *testing.M, srv **Server) {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*srv = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// Cluster is a private Redis Cluster of masters without replicas, on loopback ports.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n redis-servers in cluster mode and joins them into one cluster that
// covers every slot.
func StartCluster(n int) (*Cluster, error) {
	c := &Cluster{}
	for range n {
		// The cluster bus listens on port+10000; Start retries until it gets a usable port. The
		// node timeout is generous: on a loaded machine a short one lets nodes take each other
		// for failed, and the cluster answers CLUSTERDOWN in the middle of a test.
		s, err := Start("--cluster-enabled", "yes", "--cluster-node-timeout", "15000")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %w\n%s", err, out)
	}
	// Every node must see the cluster whole before a test starts: one that has not yet learned
	// every slot's owner answers CLUSTERDOWN, which on a loaded machine can outlast the first
	// node's "ok" by a moment.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		if err := n.waitClusterOK(deadline); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// waitClusterOK waits until the node says cluster_state:ok.
func (s *Server) waitClusterOK(deadline time.Time) error {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer rdb.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := rdb.ClusterInfo(ctx).Result()
		cancel()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: cluster node %s did not become ready: %w %s", s.Addr, err, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr)
	}
	return addrs
}

// Stop ends every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// StartSentinel starts a Redis Sentinel watching master under the name masterName.
func StartSentinel(master *Server, masterName string) (*Server, error) {
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-sentinel-")
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redistest: redis-server is not installed")
	}
	var lastErr error
	for range 5 {
		sport, err := FreePort()
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 2000\n",
			sport, dir, filepath.Join(dir, "sentinel.log"), masterName, host, port, masterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(sport), dir: dir, args: []string{bin, conf, "--sentinel"}}
		if lastErr = s.run(); lastErr == nil {
			return s, nil
		}
		s.Kill()
	}
	return nil, fmt.Errorf("redistest: sentinel did not come up: %w", lastErr)
}

// UsedMemory is redis-server's used_memory in bytes; 0 when INFO fails.
func UsedMemory(rdb redis.UniversalClient) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// CPUSeconds is the CPU time redis-server has used: what operations cost the one Redis thread
// that every replica shares. 0 when INFO fails.
func CPUSeconds(rdb redis.UniversalClient) float64 {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, key := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), key); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return total
}

// RewriteAudit does to the audit trail under a key prefix ("gh:{ns}:") what someone with full
// write access to Redis can: remove one event, then recompute every chain hash and the head,
// so that the trail verifies on its own again. Only a checkpoint kept outside Redis finds it.
func RewriteAudit(ctx context.Context, rdb redis.UniversalClient, prefix string, drop int) error {
	msgs, err := rdb.XRange(ctx, prefix+"audit", "-", "+").Result()
	if err != nil {
		return err
	}
	if drop >= len(msgs) {
		return fmt.Errorf("redistest: the trail has %d events, none at %d", len(msgs), drop)
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XDel(ctx, prefix+"audit", msgs[drop].ID)
		p.Del(ctx, prefix+"audit:chain")
		prev := ""
		kept := append(msgs[:drop:drop], msgs[drop+1:]...)
		for _, m := range kept {
			body, _ := m.Values["e"].(string)
			prev = governance.ChainHash(prev, m.ID, []byte(body))
			p.HSet(ctx, prefix+"audit:chain", m.ID, prev)
		}
		p.HSet(ctx, prefix+"audit:head", "id", kept[len(kept)-1].ID, "hash", prev, "n", len(kept))
		return nil
	})
	return err
}
