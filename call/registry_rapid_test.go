package call_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestRegistryRapid is the Registry's own state-machine test: a Registry on
// a clock.Manual, beside calltest.Model, driven by calltest's command
// generators (t.Repeat: each action draws one input, a command of either
// mode — Invite in general or advanced mode, Cancel, Accept, Reject,
// CallingInvite, Join, Quit, End — a login, logout or heartbeat, or the
// clock's advance).
// After every action the Registry must have answered exactly what the Model
// predicts (errors compared with errors.Is against the Model's sentinel),
// delivered the Model's events field by field, kept calltest.Checker's
// invariants over its event stream, and show the Model's state through Call
// and Len (and History, H8); once the Model has no live call, the Registry
// must hold no call (G6), and once nothing is due (no pending deadline, no
// not-received check, no device on a heartbeat), no clock timer. At the end
// every deadline and heartbeat passes and each advanced call still live is
// ended (A5). Each run draws its own Options, so that the defaults and the
// limits of every option are reached, and the host policies H2 (Busy), H3
// (Glare), H5 (HeartbeatTimeout), H6 (NotReceivedAfter), H7 (Admit) and H8
// (History), each off in some runs; and in some runs the Registry's clock
// runs its timers late or never, so that commands must process what fell
// due before them (the Time rule).
// TestJournalRapid drives the same generators through a Journal, a replay
// and a restore (D1, D2).
//
// `go test` runs rapid's default number of checks (100); CI runs
//
//	go test -count=1 ./call -run Rapid -rapid.checks=1000
//
// A failure shrinks to a short list of commands and is saved under
// testdata/rapid/ for replay.
func TestRegistryRapid(t *testing.T) {
	rapid.Check(t, registryMachine)
	// With TransientMembers, every burst of due deadlines is processed
	// and delivered in slices of one event (B4): what the Sink gets, and
	// the state, must not change.
	t.Run("TransientMembers", func(t *testing.T) {
		defer call.SetSliceEvents(1)()
		rapid.Check(t, registryMachineTransient)
	})
	// Every invite first loads the table slots its lookups start at
	// (warm), as in a Registry too large for the caches.
	t.Run("Warm", func(t *testing.T) {
		defer call.SetWarmSlots(0)()
		rapid.Check(t, registryMachine)
	})
}

// FuzzRegistry runs the same state machine under Go's fuzzer: rapid reads
// its choices from the fuzzer's bytes, 8 bytes a draw (a run of 30 commands
// takes some 10 KB; an input that runs out is skipped). The seeds in
// testdata/fuzz/FuzzRegistry run with every `go test`: whole runs picked
// from random inputs, named by what they draw and their number of steps
// (commands, 51 to 66), each with advanced calls in which CallingInvite,
// Join, Quit and End succeed, and logins and logouts. One draws no host
// policy; the others draw HeartbeatTimeout and NotReceivedAfter, with
// heartbeats, lapses and not-received checks, and timers on time, late or
// never. The bytes mean what registryMachine's draws make of them: a new
// draw or weight changes every seed's run, so pick new seeds then. To fuzz:
//
//	go test -run='^$' -fuzz='^FuzzRegistry$' -fuzztime=60s -fuzzminimizetime=3s ./call
//
// (Byte deletion rarely shortens rapid's inputs, so the default minimizing
// time of 60s per new input would take most of a short run.)
func FuzzRegistry(f *testing.F) {
	f.Fuzz(rapid.MakeFuzz(registryMachine))
}

// FuzzRegistryTransient is FuzzRegistry with Options.TransientMembers. Its
// seeds are FuzzRegistry's: the draws are the same, so they make the same
// runs, with the Registry reusing memory.
func FuzzRegistryTransient(f *testing.F) {
	f.Fuzz(rapid.MakeFuzz(registryMachineTransient))
}

// rapidStart is the Manual clock's start: a whole second, like a host's, so
// that deadlines print readably.
var rapidStart = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// drawOptions draws Options within NewRegistry's bounds, favouring the
// defaults (zero) and small limits that the generators can reach.
// checkedRegistry returns a Registry on options o, with a Manual clock
// at rapidStart and a Recorder as its Sink, the Harness that checks it
// against the plain model of the same options (see modelOf), and its
// clock.
func checkedRegistry(t *rapid.T, o call.Options) (*call.Registry, *calltest.Harness, *clock.Manual) {
	clk := clock.NewManual(rapidStart)
	rec := &events.Recorder{}
	ro := o
	ro.Clock, ro.Sink, ro.NewID = clk, rec, calltest.IDs("c")
	r, err := call.NewRegistry(ro)
	if err != nil {
		t.Fatal(err)
	}
	return r, &calltest.Harness{Server: r, Model: modelOf(o), Advance: clk.Advance, Take: rec.Take}, clk
}

// modelOf returns the plain model of a Registry on options o whose
// NewID is calltest.IDs("c"), starting at rapidStart.
func modelOf(o call.Options) *calltest.Model {
	o.NewID = calltest.IDs("c")
	return calltest.NewModel(o, rapidStart)
}

func drawOptions(t *rapid.T) call.Options {
	var o call.Options
	o.MaxInvitees = rapid.SampledFrom([]int{0, 0, 1, 2, 3, 4}).Draw(t, "MaxInvitees")
	o.MaxDataLen = rapid.SampledFrom([]int{0, 0, 1, 8}).Draw(t, "MaxDataLen")
	o.MaxTimeout = rapid.SampledFrom([]time.Duration{0, 0, 0, time.Second, 3 * time.Second, 30 * time.Second}).Draw(t, "MaxTimeout")
	maxT := o.MaxTimeout
	if maxT == 0 {
		maxT = call.DefaultMaxTimeout
	}
	o.DefaultTimeout = rapid.SampledFrom([]time.Duration{0, 0, time.Second, 2500 * time.Millisecond, maxT}).Draw(t, "DefaultTimeout")
	if o.DefaultTimeout > maxT {
		o.DefaultTimeout = 0
	}
	return o
}

// errRefused is what the drawn Admit answers for the users it refuses (H7).
var errRefused = errors.New("refused by the host")

// drawPolicies draws the host policies of RULES.md §5 that calltest.Model
// follows: Busy (H2), Glare (H3), HeartbeatTimeout (H5), NotReceivedAfter
// (H6), Admit (H7) and History (H8), each off in some runs. The durations
// run from a nanosecond (a device lapses, an invitee is found not received,
// at the next instant) to longer than most timeouts the generators draw.
// Admit is deterministic: it refuses a fixed drawn subset of the users
// (pool and guests) with errRefused, whoever invites them. It also notes
// the first time it is asked about a list that cannot pass the stateless
// checks (H7: an invalid ID, or the inviter itself): misuse returns that
// note, or "".
func drawPolicies(t *rapid.T, o *call.Options) (misuse func() string) {
	o.Busy = rapid.SampledFrom([]call.BusyPolicy{call.BusyOff, call.BusyInCall}).Draw(t, "Busy")
	o.Glare = rapid.SampledFrom([]call.GlarePolicy{call.GlareOff, call.GlareMerge}).Draw(t, "Glare")
	o.History = rapid.IntRange(0, 3).Draw(t, "History")
	o.HeartbeatTimeout = rapid.SampledFrom([]time.Duration{0, 0, time.Nanosecond, time.Second, 2500 * time.Millisecond, 6 * time.Second, 40 * time.Second}).Draw(t, "HeartbeatTimeout")
	o.NotReceivedAfter = rapid.SampledFrom([]time.Duration{0, 0, time.Nanosecond, 500 * time.Millisecond, time.Second, 3 * time.Second, 30 * time.Second}).Draw(t, "NotReceivedAfter")
	var note string
	if rapid.Bool().Draw(t, "Admit") {
		pool := append(slices.Clone(calltest.DefaultUsers), "guest-1", "guest-2", "guest-3")
		refused := map[string]bool{}
		for _, u := range pool {
			if rapid.IntRange(0, 3).Draw(t, "refuse "+u) == 0 {
				refused[u] = true
			}
		}
		o.Admit = func(inviter, invitee string) error {
			if note == "" && (!plainID(inviter) || !plainID(invitee) || inviter == invitee) {
				note = fmt.Sprintf("Admit(%q, %q) asked about a list that fails the stateless checks (H7)", inviter, invitee)
			}
			if refused[invitee] {
				return errRefused
			}
			return nil
		}
	}
	return func() string { return note }
}

// plainID is the ID rule of RULES.md §2: not empty, at most 128 bytes, UTF-8,
// no Cc or Cf character.
func plainID(s string) bool {
	if s == "" || len(s) > 128 || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) })
}

// slowClock is a Manual whose timers run late by a fixed delay, as on a
// host under load, or in effect never: what falls due must then be
// processed by the next input (the Time rule), with the deadline as At.
type slowClock struct {
	*clock.Manual
	late time.Duration
}

// AfterFunc returns a timer that can only be stopped, not reset: the
// Registry must then make a new timer for each arming, and that path is
// checked here too (the scenarios use Manual's resettable timers).
func (c slowClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return stopOnly{c.Manual.AfterFunc(d+c.late, f)}
}

type stopOnly struct{ t clock.Timer }

func (s stopOnly) Stop() bool { return s.t.Stop() }

const neverFires = 100 * 365 * 24 * time.Hour

func registryMachine(t *rapid.T) { runRegistryMachine(t, false) }

// registryMachineTransient is registryMachine with Options.TransientMembers:
// the same draws, so the same runs, with the Registry reusing the memory of
// ended calls and of members lists once they are emitted. The Recorder
// keeps detached copies, as the option requires of a Sink.
func registryMachineTransient(t *rapid.T) { runRegistryMachine(t, true) }

func runRegistryMachine(t *rapid.T, transient bool) {
	o := drawOptions(t)
	o.TransientMembers = transient
	misuse := drawPolicies(t, &o)
	clk := clock.NewManual(rapidStart)
	rec := &events.Recorder{}
	// In some runs the Registry's timer runs late, or never.
	late := rapid.SampledFrom([]time.Duration{0, 0, 0, time.Nanosecond, 700 * time.Millisecond, 5 * time.Second, neverFires}).Draw(t, "timer lateness")

	// NewID's IDs are "c1", "c2", …, or, in some runs, "h1", "h2", …: the
	// host-chosen IDs the generators draw, so that a made ID can be in use.
	prefix := rapid.SampledFrom([]string{"c", "h"}).Draw(t, "NewID prefix")
	ro := o
	ro.Clock, ro.Sink, ro.NewID = slowClock{clk, late}, rec, calltest.IDs(prefix)
	keeper := &keptSink{next: rec}
	if !transient {
		ro.Sink = keeper // the default contract: a Sink may keep Members as they are
	}
	r, err := call.NewRegistry(ro)
	if err != nil {
		t.Fatalf("NewRegistry(%+v): %v", o, err)
	}
	mo := o
	mo.NewID = calltest.IDs(prefix)
	h := &calltest.Harness{
		Server:     r,
		Model:      calltest.NewModel(mo, rapidStart),
		Advance:    clk.Advance,
		Take:       rec.Take,
		LateTimers: late > 0,
	}

	// G6: once no call is live, no call is left; and once nothing is due
	// (G5, H5, H6), no timer but the Registry's one, which may still be
	// armed (see arm): the Model, which has no timer, checks that its
	// firing emits nothing.
	idle := func(t *rapid.T) {
		if h.Lagging() {
			return
		}
		if n := r.Len(); h.Model.Len() == 0 && n != 0 {
			t.Fatalf("after step %d: the Model has no live call, the Registry %d", h.Steps, n)
		}
		if _, due := h.Model.NextDue(); !due && clk.Pending() > 1 {
			t.Fatalf("after step %d: nothing is due, but %d clock timers pending", h.Steps, clk.Pending())
		}
	}
	actions := h.Actions()
	command := actions["command"]
	actions["command"] = func(t *rapid.T) {
		command(t)
		if m := misuse(); m != "" {
			t.Fatalf("step %d: %s", h.Steps, m)
		}
	}
	actions[""] = func(t *rapid.T) {
		h.Check(t)
		idle(t)
		keeper.check(t, h.Steps)
	}
	t.Repeat(actions)
	h.Finish(t)
	idle(t)
	keeper.check(t, h.Steps)
}

// keptSink is a Sink that keeps every event as Emit received it, Members
// not copied, as the default contract allows (RULES.md §2: "shared and
// read-only"; see Options.TransientMembers), beside a copy made at Emit.
// check fails if the Registry has since written into a list it handed out:
// by default it must never reuse that memory, though it reuses the records
// of ended calls whose members' arrays answers and timeouts point into.
type keptSink struct {
	next        events.Sink
	mu          sync.Mutex
	raw, copies []events.Event
}

func (k *keptSink) Emit(e events.Event) {
	k.mu.Lock()
	k.raw, k.copies = append(k.raw, e), append(k.copies, e.Detach())
	k.mu.Unlock()
	k.next.Emit(e)
}

func (k *keptSink) check(t *rapid.T, step int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, e := range k.raw {
		if !slices.Equal(e.Members, k.copies[i].Members) {
			t.Fatalf("after step %d: the Members of event %d (%v to %s, call %s, Seq %d) changed after Emit: %+v, was %+v",
				step, i, e.Kind, e.To, e.CallID, e.Seq, e.Members, k.copies[i].Members)
		}
	}
}
