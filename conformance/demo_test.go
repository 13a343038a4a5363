package conformance

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// `gatehouse` with no configuration and no Redis: the embedded demo. It must print the SCIM
// base URL and a token that works, and serve the demo users.
func TestDemoOnABareMachine(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GATEHOUSE_ADDR=127.0.0.1:"+strconv.Itoa(port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("demo did not exit cleanly: %v", err)
		}
	}()
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	tokenLine := regexp.MustCompile(`Authorization: Bearer (demo-[0-9a-f]+)`)
	var token string
	var sawURL bool
	timeout := time.After(30 * time.Second)
	for token == "" || !sawURL {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the demo exited before printing how to connect")
			}
			sawURL = sawURL || strings.Contains(line, "SCIM base URL: "+base+"/scim/v2")
			if m := tokenLine.FindStringSubmatch(line); m != nil {
				token = m[1]
			}
		case <-timeout:
			t.Fatal("no SCIM base URL and token printed within 30s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	demo := &gateway{base: base}
	users := demo.call(t, "GET", "/Users?attributes=userName", nil, "Authorization", "Bearer "+token).want(t, 200).body
	if users["totalResults"] != 6.0 {
		t.Fatalf("demo users: %v", users["totalResults"])
	}
	grace := demo.call(t, "GET", `/Users?filter=userName%20eq%20%22grace.hopper@example.org%22`, nil, "Authorization", "Bearer "+token).want(t, 200).body
	if get(grace, "Resources.0.groups.0") == nil || get(grace, "Resources.0.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager.value") == nil {
		t.Fatalf("demo user lacks groups or manager: %v", grace)
	}
	demo.call(t, "GET", "/Users", nil, "Authorization", "Bearer "+entraToken).wantError(t, 401, "")
}
