// Package gatewaytest runs the real gatehouse binary for the tests that drive it from outside
// (the conformance suite, the browser scenarios): built once per test binary with the race
// detector, started on loopback with the environment the test gives it, its output kept for
// the test to read, and stopped with SIGTERM, which must end it cleanly.
package gatewaytest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The binary is built once per test binary, and removed by Remove.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Build builds ./cmd/gatehouse of the module the test runs in, once per test binary, and
// returns its path. It is built with the race detector: the tests drive the gateway's
// concurrent paths too, and every suite's build shares Go's build cache.
func Build() (string, error) {
	binary.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			binary.err = err
			return
		}
		if binary.dir, err = os.MkdirTemp("", "gatehouse-bin-"); err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(binary.dir, "gatehouse")
		cmd := exec.Command("go", "build", "-race", "-o", binary.path, "./cmd/gatehouse")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("gatewaytest: go build ./cmd/gatehouse: %w\n%s", err, out)
		}
	})
	return binary.path, binary.err
}

// Remove deletes the built binary; a TestMain calls it after m.Run.
func Remove() {
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
}

// ModuleRoot is the folder of the go.mod above the working directory: the module the tests run
// in, where the gateway is built from and where artifacts go.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("gatewaytest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Process is one running gateway.
type Process struct {
	URL     string // http://127.0.0.1:<port>, with no trailing slash
	cmd     *exec.Cmd
	out     *output
	exited  chan struct{} // closed when the process has ended; waitErr is read only after that
	waitErr error
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

// Start runs the binary with args, serving at url (which the arguments or the environment must
// make it listen on). Its environment is the test's less every GATEHOUSE_ variable, plus env:
// a developer's own settings never reach it. Start returns once url's /readyz answers 200 (the
// gateway and its Redis are up), within a minute: a cold gateway on a loaded two-core machine
// takes seconds. A process that exits first, or never gets ready, is an error with its output.
func Start(bin, url string, args, env []string) (*Process, error) {
	p := &Process{URL: url, out: &output{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(environWithout("GATEHOUSE_"), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("gatewaytest: start the gateway: %w", err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(); err != nil {
		p.Kill()
		return nil, fmt.Errorf("gatewaytest: %w\ngateway output:\n%s", err, p.Output())
	}
	return p, nil
}

func (p *Process) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-p.exited:
			if p.waitErr == nil {
				return errors.New("the gateway exited before /readyz answered")
			}
			return fmt.Errorf("the gateway exited before /readyz answered: %w", p.waitErr)
		default:
		}
		resp, err := client.Get(p.URL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("it answered %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway's /readyz did not answer 200 within a minute: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Output is what the gateway has printed so far: the banner and its logs.
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM and expects a clean exit within the time given; it kills a gateway that
// has not ended by then.
func (p *Process) Stop(within time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(within):
		p.Kill()
		return fmt.Errorf("the gateway did not stop within %s of SIGTERM", within)
	}
}

// Kill ends the gateway at once, as a crash would, and waits for it to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
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
