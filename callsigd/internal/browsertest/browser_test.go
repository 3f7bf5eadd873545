package browsertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/callsigd/internal/server"
	"github.com/callsig/callsig/callsigd/internal/web"
	"github.com/callsig/callsig/clock"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// start is the server's manual clock's first reading.
var start = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// waitLimit bounds every browser step: the steps wait for what the page
// shows, never for time.
const waitLimit = 10 * time.Second

// chromium returns the browser to drive, or skips (fails under CI=true)
// when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CALLSIGD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH: install it (Debian: apt-get install chromium) or set CALLSIGD_CHROMIUM, " +
		"then run go test ./callsigd/internal/browsertest -v"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// harness is one server and one browser; pages are isolated browser
// contexts in it.
type harness struct {
	t       *testing.T
	clk     *clock.Manual
	url     string
	browser context.Context
	shots   string
	nshot   atomic.Int32
	calls   int // calls made so far: the server names them call-1, call-2, …
}

func newHarness(t *testing.T) *harness {
	exe := chromium(t)
	clk := clock.NewManual(start)
	a, err := auth.New([]byte("0123456789abcdef0123456789abcdef"), clk)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Options: call.Options{History: 20, NewID: calltest.IDs("call-")},
		Clock:   clk, Auth: a, Dev: true, Static: web.FS(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})

	shots := os.Getenv("CALLSIGD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1180, 1120))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", exe, err)
	}
	return &harness{t: t, clk: clk, url: ts.URL, browser: browser, shots: shots}
}

// nextCall returns the ID the server gives the next call.
func (h *harness) nextCall() string {
	h.calls++
	return fmt.Sprintf("call-%d", h.calls)
}

// page is one isolated browser context (its own storage and cookies).
type page struct {
	h    *harness
	name string
	ctx  context.Context
}

// open makes an isolated browser context and loads the app in it.
func (h *harness) open(name string) *page {
	h.t.Helper()
	ctx, cancel := chromedp.NewContext(h.browser, chromedp.WithNewBrowserContext())
	h.t.Cleanup(cancel)
	// The first Run makes the tab and ties it to its context: it must
	// not have a timeout of its own (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		h.t.Fatalf("%s: %v", name, err)
	}
	p := &page{h: h, name: name, ctx: ctx}
	p.do(chromedp.Navigate(h.url), chromedp.WaitVisible(chromedp.CSS("#signin-user")))
	return p
}

// do runs steps on the page, failing the test with the page's name.
func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.h.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.shot("FAILED")
		p.h.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](p *page, js string) T {
	p.h.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.h.t.Fatalf("%s: %s: %v", p.name, js, err)
	}
	return v
}

// shot writes a screenshot of the page's viewport (tall enough for the
// whole app), numbered in the order taken.
func (p *page) shot(what string) {
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.h.t.Errorf("%s: screenshot %s: %v", p.name, what, err)
		return
	}
	n := p.h.nshot.Add(1)
	file := filepath.Join(p.h.shots, fmt.Sprintf("%02d-%s-%s.png", n, p.name, what))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.h.t.Error(err)
	}
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// signIn signs the page in as user on device "web" and waits until it is
// online.
func (p *page) signIn(user string) {
	p.h.t.Helper()
	p.do(
		chromedp.SetValue(css("#signin-user"), user),
		chromedp.Click(css("#signin-submit")),
		chromedp.WaitVisible(css(`#conn[data-state="online"]`)),
		chromedp.WaitVisible(css("#compose-to")),
	)
}

// invite fills the new-call form and submits it; it returns the call's ID
// once the page shows the call.
func (p *page) invite(to, note string, timeoutSec int, advanced bool) string {
	p.h.t.Helper()
	id := p.h.nextCall()
	mode := "#mode-general"
	if advanced {
		mode = "#mode-advanced"
	}
	if got := eval[string](p, `document.getElementById('compose-note').value`); got != "" {
		p.h.t.Fatalf("%s: the note %q stayed after the last call", p.name, got)
	}
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Click(css(`label[for="` + mode[1:] + `"]`)),
		chromedp.SetValue(css("#compose-to"), to),
		chromedp.SetValue(css("#compose-timeout"), fmt.Sprint(timeoutSec)),
	}
	if note != "" { // SetValue cannot set ""
		steps = append(steps, chromedp.SetValue(css("#compose-note"), note))
	}
	steps = append(steps,
		chromedp.Click(css("#compose-submit")),
		chromedp.WaitVisible(css(`[data-call="`+id+`"]`)),
	)
	p.do(steps...)
	return id
}

// member is the selector of user's row in call id, in state.
func member(id, user, state string) chromedp.CSS {
	return css(fmt.Sprintf(`[data-call="%s"] [data-member="%s"][data-state="%s"]`, id, user, state))
}

// ringing waits for the incoming-call dialog of call id, its caller and
// note shown, focus on Accept.
func (p *page) ringing(id, caller, note string) {
	p.h.t.Helper()
	p.do(chromedp.WaitVisible(css(`#incoming[open][data-call="` + id + `"]`)))
	if got := eval[string](p, `document.getElementById('incoming-title').textContent`); got != caller {
		p.h.t.Errorf("%s: incoming call from %q, want %q", p.name, got, caller)
	}
	if got := eval[string](p, `document.getElementById('incoming-note').textContent`); got != note {
		p.h.t.Errorf("%s: incoming note %q, want %q", p.name, got, note)
	}
	if got := eval[string](p, `document.activeElement.id`); got != "incoming-accept" {
		p.h.t.Errorf("%s: focus on %q while ringing, want the Accept button", p.name, got)
	}
	left := eval[string](p, `document.getElementById('incoming-left').textContent`)
	if !strings.HasSuffix(left, " s left") {
		p.h.t.Errorf("%s: countdown %q, want \"N s left\"", p.name, left)
	}
}

// notRinging waits until the incoming-call dialog is closed.
func (p *page) notRinging() {
	p.h.t.Helper()
	p.do(chromedp.WaitNotPresent(css("#incoming[open]")))
}

func TestBrowser(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.open("alice"), h.open("bob"), h.open("carol")
	alice.shot("signin")
	alice.signIn("alice")
	bob.signIn("bob")
	carol.signIn("carol")
	alice.shot("home")

	// The subtests share the server, the browser and the calls' numbering:
	// they run in order, and the first to fail stops the rest.
	parent := t
	run := func(name string, f func(t *testing.T)) {
		if parent.Failed() {
			return
		}
		parent.Run(name, func(t *testing.T) {
			h.t = t
			defer func() { h.t = parent }()
			f(t)
		})
	}

	run("accepted", func(t *testing.T) {
		id := alice.invite("bob", "Lunch at noon?", 30, false)
		alice.do(chromedp.WaitVisible(member(id, "bob", "Received")))
		alice.shot("ringing")
		bob.ringing(id, "alice", "Lunch at noon?")
		bob.shot("incoming")
		bob.do(chromedp.KeyEvent(kb.Enter)) // focus is on Accept
		bob.notRinging()
		bob.do(chromedp.WaitVisible(css(`[data-call="` + id + `"][data-over="true"]`)))
		alice.do(chromedp.WaitVisible(member(id, "bob", "Accepted")))
		alice.do(chromedp.WaitVisible(css(`[data-call="` + id + `"][data-over="true"]`)))
		alice.shot("accepted")
		bob.shot("accepted")
	})

	run("rejected", func(t *testing.T) {
		id := alice.invite("bob", "", 30, false)
		bob.ringing(id, "alice", "")
		bob.do(chromedp.KeyEvent(kb.Escape)) // Escape declines
		bob.notRinging()
		alice.do(chromedp.WaitVisible(member(id, "bob", "Rejected")))
		alice.shot("rejected")
	})

	run("cancelled", func(t *testing.T) {
		id := alice.invite("bob, carol", "Stand-up", 30, false)
		bob.ringing(id, "alice", "Stand-up")
		carol.ringing(id, "alice", "Stand-up")
		alice.do(chromedp.WaitVisible(member(id, "carol", "Received")))
		alice.shot("ringing-two")
		alice.do(chromedp.Click(css(`[data-call="` + id + `"] [data-act="cancel"]`)))
		bob.notRinging()
		carol.notRinging()
		alice.do(chromedp.WaitVisible(member(id, "bob", "Cancelled")), chromedp.WaitVisible(member(id, "carol", "Cancelled")))
		alice.shot("cancelled")
		bob.do(chromedp.WaitVisible(css(`[data-call="` + id + `"][data-over="true"]`)))
		bob.shot("missed")
	})

	run("timeout", func(t *testing.T) {
		id := alice.invite("carol", "Quick question", 5, false)
		carol.ringing(id, "alice", "Quick question")
		h.clk.Advance(5 * time.Second)
		carol.notRinging()
		alice.do(chromedp.WaitVisible(member(id, "carol", "Timeout")))
		alice.shot("timeout")
	})

	run("room", func(t *testing.T) {
		id := alice.invite("bob", "Design review", 60, true)
		bob.ringing(id, "alice", "Design review")
		bob.do(chromedp.Click(css("#incoming-accept")))
		bob.notRinging()
		alice.do(chromedp.WaitVisible(member(id, "bob", "Accepted")))
		// Invite more: carol, who declines, then joins on her own.
		alice.do(
			chromedp.SetValue(css(`[data-call="`+id+`"] [data-act="invite-more"] input`), "carol"),
			chromedp.Click(css(`[data-call="`+id+`"] [data-act="invite-more"] button`)),
		)
		carol.ringing(id, "alice", "Design review")
		carol.shot("room-invite")
		carol.do(chromedp.Click(css("#incoming-reject")))
		carol.notRinging()
		alice.do(chromedp.WaitVisible(member(id, "carol", "Rejected")))
		carol.do(chromedp.Click(css(`[data-call="` + id + `"] [data-act="join"]`)))
		alice.do(chromedp.WaitVisible(member(id, "carol", "Accepted")))
		bob.do(chromedp.WaitVisible(member(id, "carol", "Accepted")))
		carol.do(chromedp.WaitVisible(member(id, "carol", "Accepted")))
		alice.shot("room")
		carol.shot("room")
		// bob leaves, alice ends it for all.
		bob.do(chromedp.Click(css(`[data-call="` + id + `"] [data-act="quit"]`)))
		alice.do(chromedp.WaitVisible(member(id, "bob", "Quit")))
		alice.do(chromedp.Click(css(`[data-call="` + id + `"] [data-act="end"]`)))
		alice.do(chromedp.WaitVisible(css(`[data-call="` + id + `"][data-over="true"]`)))
		carol.do(chromedp.WaitVisible(css(`[data-call="` + id + `"][data-over="true"]`)))
		if got := eval[string](carol, `document.querySelector('[data-call="`+id+`"] [data-status]').textContent`); got != "Ended by alice" {
			t.Errorf("carol's room status %q, want \"Ended by alice\"", got)
		}
		carol.shot("room-ended")
	})

	run("reconnect", func(t *testing.T) {
		// bob's connection drops and stays down while alice calls: the
		// invitation reaches him only as the replay of his next login.
		bob.do(chromedp.Evaluate[chromedp.Void](`callsig.dropConnection(600000)`))
		bob.do(chromedp.WaitVisible(css(`#conn[data-state="waiting"]`)))
		bob.shot("offline")
		id := alice.invite("bob", "Call me back", 60, false)
		alice.do(chromedp.WaitVisible(member(id, "bob", "Inviting")))
		bob.do(chromedp.Click(css("#reconnect-now")), chromedp.WaitVisible(css(`#conn[data-state="online"]`)))
		bob.ringing(id, "alice", "Call me back")
		bob.do(chromedp.Click(css("#incoming-accept")))
		alice.do(chromedp.WaitVisible(member(id, "bob", "Accepted")))

		// A second tab signed in as bob on the same device replaces the
		// first, which says so and does not reconnect.
		bob2 := h.open("bob2")
		bob2.signIn("bob")
		bob.do(chromedp.WaitVisible(css(`#conn[data-state="replaced"]`)))
		bob.shot("replaced")
	})

	run("history", func(t *testing.T) {
		alice.do(chromedp.Click(css("#history-refresh")), chromedp.WaitVisible(css(`[data-history="call-6"]`)))
		n := eval[int](alice, `document.querySelectorAll('#history li').length`)
		if n != 6 {
			t.Errorf("alice's history lists %d calls, want 6", n)
		}
		alice.shot("history")
	})
}
