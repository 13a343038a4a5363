package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-iam/gatehouse/internal/gatewaytest"
)

// ScreenshotDirEnv names the folder screenshots are written to, instead of
// .artifacts/screenshots under the module's root.
const ScreenshotDirEnv = "GATEHOUSE_SCREENSHOTS"

// screenshotName keeps a name to one plain file name: no separators, no dot-dot.
var screenshotName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ScreenshotDir is the folder Screenshots writes to.
func ScreenshotDir() (string, error) {
	if dir := os.Getenv(ScreenshotDirEnv); dir != "" {
		return dir, nil
	}
	dir, err := gatewaytest.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, ".artifacts", "screenshots"), nil
}

// settle waits two animation frames, so a layout the new viewport caused has been painted.
const settle = `new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))`

// Screenshots writes the whole page as PNG at laptop and at phone size, as <name>-laptop.png
// and <name>-phone.png in ScreenshotDir, and leaves the tab at laptop size. The page is
// re-laid out, not reloaded: a page that answered a form post is not posted again. name is
// lower-case letters, digits and dashes.
func Screenshots(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	if !screenshotName.MatchString(name) {
		t.Fatalf("browsertest: screenshot name %q: use lower-case letters, digits and dashes", name)
	}
	dir, err := ScreenshotDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: screenshot folder: %v", err)
	}
	for _, v := range []Viewport{Laptop, Phone} {
		png, err := shoot(ctx, v)
		if err != nil {
			t.Fatalf("browsertest: screenshot %s at %s size: %v", name, v.Name, err)
		}
		file := filepath.Join(dir, name+"-"+v.Name+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatalf("browsertest: %v", err)
		}
	}
	if err := chromedp.Do(ctx, Laptop.emulate()); err != nil {
		t.Fatalf("browsertest: back to laptop size: %v", err)
	}
}

func shoot(ctx context.Context, v Viewport) ([]byte, error) {
	if err := chromedp.Do(ctx, v.emulate(), chromedp.Evaluate[chromedp.Void](settle, chromedp.EvalAwaitPromise)); err != nil {
		return nil, fmt.Errorf("emulate: %w", err)
	}
	return chromedp.Run(ctx, chromedp.FullScreenshot(100))
}
