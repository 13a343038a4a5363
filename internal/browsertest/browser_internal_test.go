package browsertest

import (
	"strings"
	"testing"
)

// Without Chromium the harness fails, saying how to install it; it never skips.
func TestAMissingChromiumSaysHowToInstallIt(t *testing.T) {
	if p, err := chromiumPath(chromiums); err != nil || p == "" {
		t.Errorf("the installed Chromium is not found: %q, %v", p, err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err := chromiumPath([]string{"/nonexistent/chromium", "chromium"})
	if err == nil || !strings.Contains(err.Error(), "apt-get install chromium fonts-liberation") {
		t.Fatalf("err = %v", err)
	}
}
