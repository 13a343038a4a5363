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
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
		port, err := freePort()
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
