// Package browsertest drives the portal's pages in a real headless Chromium for tests: one
// browser per test binary, a tab in its own browser context (its own cookie jar) per Open, the
// page helpers scenarios need, axe-core accessibility checks, screenshots at laptop and phone
// width, and the real gateway binary on a free loopback port against a private redis-server.
//
// Like redistest and ldaptest it fails, never skips, when what it needs is missing: `make test`
// installs Chromium (Debian's package) and axe-core (from npm, into .cache/axe-core).
//
// A test binary that uses it runs its tests through Main, which ends the browser and removes
// the gateway binary afterwards:
//
//	func TestMain(m *testing.M) { browsertest.Main(m) }
//
// A scenario:
//
//	g := browsertest.StartGateway(t, "")             // the embedded demo configuration
//	ctx := browsertest.Open(t)                       // a person, with their own cookies
//	browsertest.Goto(t, ctx, g.URL+"/catalog")       // waits for the page's <main>
//	browsertest.Fill(t, ctx, "Justification", "quarter-end close")
//	if status := browsertest.Submit(t, ctx, "Request access"); status != http.StatusOK { ... }
//	browsertest.Axe(t, ctx)
//	browsertest.Screenshots(t, ctx, "catalog")       // .artifacts/screenshots/catalog-{laptop,phone}.png
//
// The helpers act on the page as it stands and fail at once when what they look for is not
// there; a scenario that waits for a change says so with chromedp.WaitVisible on the same ctx,
// which is a plain chromedp context.
//
// Console errors, uncaught exceptions, failed loads of anything but the page itself, and
// Content-Security-Policy violations fail the test that opened the tab (Check runs at its
// cleanup). Chromium asks every site for /favicon.ico, so a site must serve one.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse-iam/gatehouse/internal/gatewaytest"
)

// tabTimeout bounds everything one Open's tab does, so a page that never answers fails the test
// with a deadline instead of hanging the binary until go test's own timeout.
const tabTimeout = 2 * time.Minute

// Laptop is the viewport every tab starts with, and the first screenshot's.
var Laptop = Viewport{Name: "laptop", Width: 1366, Height: 768, Scale: 1}

// Phone is the second screenshot's viewport: a phone's width, emulated as a mobile device.
var Phone = Viewport{Name: "phone", Width: 390, Height: 844, Scale: 2, Mobile: true}

// Viewport is a window size a page is rendered at.
type Viewport struct {
	Name          string
	Width, Height int64
	Scale         float64
	Mobile        bool
}

func (v Viewport) emulate() chromedp.Action[chromedp.Void] {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(v.Scale)}
	if v.Mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(v.Width, v.Height, opts...)
}

// flags are the switches this closed network needs besides chromedp's defaults (headless, no
// first run, disable-background-networking, disable-sync and the rest): without them Chromium
// dials Google's update, sync and QUIC endpoints at every start and logs each refusal. As root
// the allocator adds --no-sandbox itself.
var flags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("disable-gpu", true),
	chromedp.NoFirstRun,
}

// The browser is shared by every test of the binary: started by the first Open, ended by Main
// (or, without Main, by the kernel when the process ends: chromedp starts it with Pdeathsig).
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// Main runs a test binary's tests, then ends the browser they shared and removes the gateway
// binary they built, if either was.
func Main(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	gatewaytest.Remove()
	os.Exit(code)
}

// chromiums are where Chromium is looked for, in order. /usr/lib/chromium/chromium is Debian's
// binary itself: the /usr/bin/chromium wrapper only adds the flags of /etc/chromium.d, which
// headless tests do not want, and prints shell noise on some machines.
var chromiums = []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"}

func chromiumPath(candidates []string) (string, error) {
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("browsertest: chromium is not installed: run `make test` (as root it installs it) or `apt-get install chromium fonts-liberation`")
}

func startBrowser() (context.Context, error) {
	browser.once.Do(func() {
		path, err := chromiumPath(chromiums)
		if err != nil {
			browser.err = err
			return
		}
		dir, err := os.MkdirTemp("", "gatehouse-chromium-")
		if err != nil {
			browser.err = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:], flags...)
		opts = append(opts, chromedp.ExecPath(path), chromedp.UserDataDir(dir))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelBrowser := chromedp.NewContext(alloc)
		browser.cancel = func() {
			cancelBrowser()
			cancelAlloc()
			_ = os.RemoveAll(dir)
		}
		// The first Do starts the process; it gets no deadline, since the browser's life is
		// bound to the context of that first call (a tab's deadline must not end it).
		if err := chromedp.Do(ctx); err != nil {
			browser.err = fmt.Errorf("browsertest: start %s: %w", path, err)
			return
		}
		browser.ctx = ctx
	})
	return browser.ctx, browser.err
}

// Open gives the test a new tab in a browser context of its own: its own cookies and storage,
// so two people can be signed in at once, each through their own Open. The tab starts at laptop
// size, is closed at the test's cleanup, and everything in it must finish within tabTimeout
// (or the test's own deadline, when sooner). It fails the test, never skips it, when Chromium
// is missing.
func Open(t testing.TB) context.Context {
	t.Helper()
	parent, err := startBrowser()
	if err != nil {
		t.Fatal(err)
	}
	tab, closeTab := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	deadline := time.Now().Add(tabTimeout)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if td, ok := d.Deadline(); ok && td.Before(deadline) {
			deadline = td
		}
	}
	ctx, cancel := context.WithDeadline(tab, deadline)
	state := &tabState{}
	ctx = context.WithValue(ctx, tabKey{}, state)
	t.Cleanup(func() {
		cancel()
		closeTab()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: open a tab: %v", err)
	}
	state.frame = cdp.FrameID(chromedp.FromContext(ctx).Target.TargetID)
	if err := chromedp.Listen(ctx, state.listen); err != nil {
		t.Fatalf("browsertest: listen to the tab: %v", err)
	}
	if err := chromedp.Do(ctx, Laptop.emulate()); err != nil {
		t.Fatalf("browsertest: set the viewport: %v", err)
	}
	t.Cleanup(func() { Check(t, ctx) })
	return ctx
}
