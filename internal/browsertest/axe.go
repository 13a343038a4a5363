package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-iam/gatehouse/internal/gatewaytest"
)

// axePath is where `make deps` installs the pinned axe-core, under the module's root.
var axePath = filepath.Join(".cache", "axe-core", "node_modules", "axe-core", "axe.min.js")

// axeRun checks the page against every WCAG 2.0, 2.1 and 2.2 rule at levels A and AA that
// axe-core has (it tags no 2.2 rule at level A). Only violations come back: the passes and
// the incomplete checks would be most of a large answer.
const axeRun = `axe.run(document, {
	runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']},
	resultTypes: ['violations'],
})`

// Violation is one axe-core rule a page breaks, with the elements that break it.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"` // minor, moderate, serious or critical
	Help   string `json:"help"`
	URL    string `json:"helpUrl"`
	Nodes  []struct {
		Target  []any  `json:"target"` // CSS selectors; a nested array for an element in a frame or shadow root
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// Targets are the selectors of the elements that break the rule.
func (v Violation) Targets() []string {
	out := make([]string, 0, len(v.Nodes))
	for _, n := range v.Nodes {
		out = append(out, fmt.Sprint(n.Target...))
	}
	return out
}

// Violations runs axe-core on the tab's page, injected through the protocol with the page's
// own Content-Security-Policy still on, and returns every violation of any impact.
func Violations(ctx context.Context) ([]Violation, error) {
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === 'object'`))
	if err != nil {
		return nil, fmt.Errorf("browsertest: read the page: %w", err)
	}
	if !loaded {
		dir, err := gatewaytest.ModuleRoot()
		if err != nil {
			return nil, err
		}
		src, err := os.ReadFile(filepath.Join(dir, axePath))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("browsertest: axe-core is not installed at %s: run `make deps`", axePath)
		} else if err != nil {
			return nil, err
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](string(src))); err != nil {
			return nil, fmt.Errorf("browsertest: inject axe-core: %w", err)
		}
	}
	// Without EvalAwaitPromise the answer is the pending promise, which decodes as {}.
	res, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Violations []Violation `json:"violations"`
	}](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("browsertest: run axe-core: %w", err)
	}
	return res.Violations, nil
}

// Axe fails the test for every serious or critical accessibility violation on the tab's page,
// naming the rule, what it asks for and the elements that break it; lesser ones are logged.
func Axe(t testing.TB, ctx context.Context) {
	t.Helper()
	vs, err := Violations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		msg := fmt.Sprintf("%s (%s): %s; %s\n    at %s", v.ID, v.Impact, v.Help, v.URL, strings.Join(v.Targets(), "\n    at "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("browsertest: accessibility: %s", msg)
		} else {
			t.Logf("browsertest: accessibility (not failing): %s", msg)
		}
	}
}
