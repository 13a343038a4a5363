package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	t.Setenv("GATEHOUSE_SCIM_TOKEN", "")
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "configuration OK") {
		t.Fatalf("embedded demo config: code %d, %s %s", code, out.String(), errOut.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: x\nscim:\n  clients:\n    - {name: a, token: plain-text-token}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	code := run([]string{"check-config", "--config", bad}, &out, &errOut)
	if code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	for _, want := range []string{"  - listen:", "  - scim.clients[0].token:"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("missing %q in\n%s", want, errOut.String())
		}
	}
	if strings.Contains(errOut.String(), "plain-text-token") {
		t.Error("the secret was echoed")
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}
