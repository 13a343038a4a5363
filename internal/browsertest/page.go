package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

type tabKey struct{}

// tabState is what a tab's events tell: the last page it navigated to, and what went wrong in
// it. The events arrive on chromedp's reader goroutine, the test reads them on its own.
type tabState struct {
	mu       sync.Mutex
	frame    cdp.FrameID // the main frame's id, which is its target's
	status   int64
	failed   map[string]bool // document URLs that answered an error status: the scenario asserts those
	problems []string
}

func state(t testing.TB, ctx context.Context) *tabState {
	t.Helper()
	s, ok := ctx.Value(tabKey{}).(*tabState)
	if !ok {
		t.Fatal("browsertest: the context is not one of Open's tabs")
	}
	return s
}

// listen runs on chromedp's reader loop: it only records, and returns at once.
func (s *tabState) listen(ev any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		// Documents of iframes are not "the page".
		if ev.Type != network.ResourceTypeDocument || ev.FrameID != s.frame {
			return
		}
		s.status = ev.Response.Status
		if ev.Response.Status >= 400 {
			if s.failed == nil {
				s.failed = map[string]bool{}
			}
			s.failed[ev.Response.URL] = true
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			s.problems = append(s.problems, "console."+string(ev.Type)+": "+argsText(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		s.problems = append(s.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError {
			return
		}
		// A page that answers 403 or 404 is logged as a failed load too; whether that was
		// right is the scenario's to assert through Status, so only subresources count here.
		if e.Source == log.EntrySourceNetwork && s.failed[e.URL] {
			return
		}
		// Content-Security-Policy violations are logged with the source "security".
		msg := fmt.Sprintf("%s error: %s", e.Source, e.Text)
		if e.URL != "" {
			msg += " (" + e.URL + ")"
		}
		s.problems = append(s.problems, msg)
	}
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		var s string
		if json.Unmarshal(a.Value, &s) == nil {
			parts = append(parts, s)
		} else if len(a.Value) > 0 {
			parts = append(parts, string(a.Value))
		} else {
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

// Problems are the console errors, uncaught exceptions, failed subresource loads and
// Content-Security-Policy violations the tab has seen and Check has not yet reported.
func Problems(t testing.TB, ctx context.Context) []string {
	t.Helper()
	s := state(t, ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

// Check fails the test for each of the tab's Problems not yet reported, once each. Open runs
// it at cleanup; a scenario can call it earlier to fail at the step that caused one.
func Check(t testing.TB, ctx context.Context) {
	t.Helper()
	s := state(t, ctx)
	s.mu.Lock()
	problems := s.problems
	s.problems = nil
	s.mu.Unlock()
	for _, p := range problems {
		t.Errorf("browsertest: the page reported %s", p)
	}
}

// Status is the HTTP status of the tab's last page (the main frame's last document), and
// 0 before the first.
func Status(t testing.TB, ctx context.Context) int {
	t.Helper()
	s := state(t, ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.status)
}

// Goto opens url in the tab, waits until it has loaded, and returns its HTTP status. A page
// that answers an error still has to be a page: it fails the test when it has no `main`.
func Goto(t testing.TB, ctx context.Context, url string) int {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("browsertest: open %s: %v", url, err)
	}
	present(t, ctx, "document.querySelector('main')", url+" has no <main> landmark")
	return Status(t, ctx)
}

// Text is the visible text of the first element css selects.
func Text(t testing.TB, ctx context.Context, css string) string {
	t.Helper()
	present(t, ctx, "document.querySelector("+jsString(css)+")", "no element matches "+strconv.Quote(css))
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("browsertest: read %q: %v", css, err)
	}
	return strings.TrimSpace(s)
}

// present fails the test at once, saying missing, when the script find gives no element, and
// returns the element's tag name. The helpers act on the page as it stands: a query for an
// element that is not there would wait for it until the tab's deadline. A scenario that waits
// for a change says so with chromedp.WaitVisible.
func present(t testing.TB, ctx context.Context, find, missing string) string {
	t.Helper()
	tag, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(el => el ? el.tagName : '')(`+find+`)`))
	if err != nil {
		t.Fatalf("browsertest: read the page: %v", err)
	}
	if tag == "" {
		t.Fatalf("browsertest: %s", missing)
	}
	return tag
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s) // a string always marshals
	return string(q)
}

// findControl is a script that finds a form control the way a person does: by the text of
// its label, else by its name. It runs through the protocol, which the page's script-src does
// not restrict.
func findControl(field string) string {
	return `(() => {
	const want = ` + jsString(field) + `;
	const norm = s => s.replace(/\s+/g, ' ').trim();
	for (const l of document.querySelectorAll('label')) {
		if (norm(l.textContent) === want && l.control) return l.control;
	}
	for (const el of document.querySelectorAll('input, select, textarea')) {
		if (el.name === want) return el;
	}
	return null;
})()`
}

// Fill types value into the field whose label text or name is field, replacing what it held;
// a select gets the option whose value or text is value.
func Fill(t testing.TB, ctx context.Context, field, value string) {
	t.Helper()
	sel := chromedp.JSPath(findControl(field))
	if tag := present(t, ctx, findControl(field), "no field labelled or named "+strconv.Quote(field)); tag != "SELECT" {
		// Emptied through its value, not chromedp.Clear, which fails on an empty textarea (it
		// looks for the text node such a textarea does not have).
		empty := chromedp.Evaluate[chromedp.Void](`(el => { el.value = ''; })(` + findControl(field) + `)`)
		if err := chromedp.Do(ctx, empty, chromedp.SendKeys(sel, value)); err != nil {
			t.Fatalf("browsertest: fill %q: %v", field, err)
		}
		return
	}
	chosen, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`((el, want) => {
	for (const o of el.options) {
		if (o.value === want || o.text.trim() === want) {
			el.value = o.value;
			el.dispatchEvent(new Event('input', {bubbles: true}));
			el.dispatchEvent(new Event('change', {bubbles: true}));
			return true;
		}
	}
	return false;
})(`+findControl(field)+`, `+jsString(value)+`)`))
	if err != nil || !chosen {
		t.Fatalf("browsertest: %q has no option %q (%v)", field, value, err)
	}
}

// Submit presses the button whose text, value or name is button, waits for the page the form
// leads to (after any redirect) to load, and returns its HTTP status; like Goto, it fails the
// test when that page has no `main`. A button that leads to no new page is pressed with
// chromedp.Click instead.
func Submit(t testing.TB, ctx context.Context, button string) int {
	t.Helper()
	find := `(() => {
	const want = ` + jsString(button) + `;
	const norm = s => s.replace(/\s+/g, ' ').trim();
	for (const b of document.querySelectorAll('button, input[type=submit]')) {
		if (norm(b.textContent) === want || b.value === want || b.name === want) return b;
	}
	return null;
})()`
	present(t, ctx, find, "no button says "+strconv.Quote(button))
	sel := chromedp.JSPath(find)
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(sel)); err != nil {
		t.Fatalf("browsertest: submit with %q: %v", button, err)
	}
	present(t, ctx, "document.querySelector('main')", "the page after "+strconv.Quote(button)+" has no <main> landmark")
	return Status(t, ctx)
}
