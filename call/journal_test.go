package call_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// memJournal keeps entries as JSON lines, as a file journal would.
type memJournal struct {
	lines  [][]byte
	refuse error // when set, Append fails with it
}

func (j *memJournal) Append(e call.Entry) error {
	if j.refuse != nil {
		return j.refuse
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.lines = append(j.lines, b)
	return nil
}

func (j *memJournal) entries(t *testing.T) []call.Entry {
	t.Helper()
	var out []call.Entry
	for _, l := range j.lines {
		var e call.Entry
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("decode %s: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

type rig struct {
	clk *clock.Manual
	rec *events.Recorder
	reg *call.Registry
	j   *memJournal
}

func newRig(t *testing.T, start time.Time, j *memJournal, restore []byte) *rig {
	t.Helper()
	return newRigClock(t, start, j, restore, false)
}

// newRigClock is newRig whose Registry, if stopOnly, gets timers it can
// only stop, not reset: the path a host's own Clock may take.
func newRigClock(t *testing.T, start time.Time, j *memJournal, restore []byte, stopOnly bool) *rig {
	t.Helper()
	g := &rig{clk: clock.NewManual(start), rec: &events.Recorder{}, j: j}
	var clk clock.Clock = g.clk
	if stopOnly {
		clk = slowClock{Manual: g.clk}
	}
	o := call.Options{Clock: clk, Sink: g.rec, NewID: counterIDs()}
	if j != nil {
		o.Journal = j
	}
	var err error
	if restore != nil {
		g.reg, err = call.Restore(restore, o)
	} else {
		g.reg, err = call.NewRegistry(o)
	}
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// script drives a registry through both modes, presence and time; step
// returns false once there are no steps left.
func script(t *testing.T, g *rig, step int) bool {
	t.Helper()
	r := g.reg
	switch step {
	case 0:
		r.Login("alice", "a")
		r.Login("bob", "phone")
	case 1:
		if _, err := r.Invite("alice", []string{"bob", "carol", "dave"}, call.InviteConfig{Timeout: 20 * time.Second, ExtendedData: "g", Push: &events.Push{Title: "x"}}); err != nil {
			t.Fatal(err)
		}
	case 2:
		if _, err := r.Invite("bob", []string{"carol", "erin"}, call.InviteConfig{Mode: events.Advanced, Timeout: 30 * time.Second, CallID: "adv"}); err != nil {
			t.Fatal(err)
		}
	case 3:
		g.clk.Advance(5 * time.Second)
		_ = r.Accept("bob", "c1", call.AcceptConfig{Device: "phone"})
	case 4:
		r.Login("carol", "web")
		_ = r.Reject("carol", "c1", call.RejectConfig{ExtendedData: "busy"})
	case 5:
		_ = r.Accept("carol", "adv", call.AcceptConfig{})
		_, _ = r.CallingInvite("carol", "adv", []string{"frank"}, call.CallingInviteConfig{Timeout: 50 * time.Second})
	case 6:
		g.clk.Advance(20 * time.Second) // c1's dave and adv's erin time out
	case 7:
		_ = r.Quit("bob", "adv", call.QuitConfig{})
		r.Logout("carol", "web")
		r.Login("frank", "f")
		if err := r.Replay("frank", "f"); err != nil { // G8 again, journaled (OpReplay)
			t.Fatal(err)
		}
	case 8:
		_, _ = r.Invite("dave", []string{"alice"}, call.InviteConfig{Timeout: 10 * time.Second})
		r.Logout("dave", "never") // nothing
	case 9:
		g.clk.Advance(60 * time.Second)
	default:
		return false
	}
	return true
}

func views(r *call.Registry, ids ...string) map[string]call.Info {
	v := map[string]call.Info{}
	for _, id := range ids {
		if info, ok := r.Call(id); ok {
			v[id] = info
		}
	}
	return v
}

var scriptIDs = []string{"c1", "c2", "c3", "adv"}

// TestJournalReplay: D1 — the journal, through JSON, replayed into a new
// Registry by Recover gives the same events and the same state.
func TestJournalReplay(t *testing.T) {
	j := &memJournal{}
	a := newRig(t, t0, j, nil)
	for step := 0; script(t, a, step); step++ {
	}
	want := a.rec.Take()
	if len(j.lines) == 0 || len(want) == 0 {
		t.Fatal("nothing journaled or emitted")
	}

	b := &rig{clk: clock.NewManual(t0.Add(time.Hour)), rec: &events.Recorder{}}
	reg, err := call.Recover(nil, j.entries(t), call.Options{Clock: b.clk, Sink: b.rec, NewID: func() string {
		t.Fatal("Recover called NewID")
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.rec.Take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed events differ:\n%s", diffEvents(got, want))
	}
	if !reflect.DeepEqual(views(reg, scriptIDs...), views(a.reg, scriptIDs...)) || reg.Len() != a.reg.Len() {
		t.Fatalf("replayed state differs:\n%v\n%v", views(reg, scriptIDs...), views(a.reg, scriptIDs...))
	}
}

// TestSnapshotResume: D2 — a Registry snapshotted at any step, restored and
// driven on, emits what an uninterrupted one emits.
func TestSnapshotResume(t *testing.T) {
	whole := newRig(t, t0, nil, nil)
	for step := 0; script(t, whole, step); step++ {
	}
	want := whole.rec.Take()
	for cut := 0; cut <= 10; cut++ {
		a := newRig(t, t0, nil, nil)
		for step := 0; step < cut && script(t, a, step); step++ {
		}
		snap, err := a.reg.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		b := &rig{clk: clock.NewManual(a.clk.Now()), rec: &events.Recorder{}}
		b.reg, err = call.Restore(snap, call.Options{Clock: b.clk, Sink: b.rec, NewID: idsFrom(countInvites(a))})
		if err != nil {
			t.Fatal(err)
		}
		for step := cut; script(t, b, step); step++ {
		}
		got := append(a.rec.Take(), b.rec.Take()...)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cut at step %d:\n%s", cut, diffEvents(got, want))
		}
	}
}

// countInvites counts the calls a's NewID made, so that a restored
// Registry's IDs go on where a's left off.
func countInvites(a *rig) int {
	n := 0
	for _, e := range a.rec.Events() {
		if e.Kind == events.InvitationCreated && strings.HasPrefix(e.CallID, "c") {
			n++
		}
	}
	return n
}

func idsFrom(n int) func() string {
	return func() string { n++; return fmt.Sprintf("c%d", n) }
}

func diffEvents(got, want []events.Event) string {
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = fmt.Sprintf("%+v", got[i])
		}
		if i < len(want) {
			w = fmt.Sprintf("%+v", want[i])
		}
		if i < len(got) && i < len(want) && reflect.DeepEqual(got[i], want[i]) {
			continue
		}
		{
			fmt.Fprintf(&b, "event %d:\n  got  %s\n  want %s\n", i, g, w)
		}
	}
	return b.String()
}

// TestJournalRefusal: D1 — an Append error refuses the input. The retry
// of a refused passing of time is checked with a timer the Registry resets
// and with one it can only stop and make anew.
func TestJournalRefusal(t *testing.T) {
	for _, stopOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopOnly=%v", stopOnly), func(t *testing.T) { journalRefusal(t, stopOnly) })
	}
}

func journalRefusal(t *testing.T, stopOnly bool) {
	boom := errors.New("disk full")
	j := &memJournal{}
	g := newRigClock(t, t0, j, nil, stopOnly)
	g.reg.Login("alice", "a")
	res, err := g.reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	g.rec.Take()
	before, _ := g.reg.Call(res.CallID)

	j.refuse = boom
	err = g.reg.Accept("bob", res.CallID, call.AcceptConfig{})
	if !errors.Is(err, call.ErrJournal) || !errors.Is(err, boom) {
		t.Fatalf("Accept with a failing journal: %v", err)
	}
	if after, _ := g.reg.Call(res.CallID); !reflect.DeepEqual(before, after) || len(g.rec.Take()) != 0 {
		t.Fatal("a refused command changed something or emitted")
	}
	g.reg.Login("bob", "phone") // dropped
	if info, _ := g.reg.Call(res.CallID); info.Members[1].State != events.Inviting {
		t.Fatalf("a refused Login took effect: %v", info.Members[1])
	}
	// A refused passing of time stays due, and the command it came with
	// fails with ErrJournal, whatever else is wrong with it.
	g.clk.Advance(10 * time.Second)
	if len(g.rec.Take()) != 0 || g.reg.Len() != 1 {
		t.Fatal("a refused timeout took effect")
	}
	if _, err := g.reg.Invite("", nil, call.InviteConfig{}); !errors.Is(err, call.ErrJournal) {
		t.Fatalf("ErrJournal must win over every other error: %v", err)
	}
	j.refuse = nil
	g.clk.Advance(999 * time.Millisecond) // the retry is at least 1s after the refusal
	if len(g.rec.Take()) != 0 {
		t.Fatal("retried sooner than 1s")
	}
	g.clk.Advance(time.Millisecond)
	evs := g.rec.Take()
	if len(evs) != 2 || evs[0].Kind != events.InviteesAnsweredTimeout || !evs[0].At.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("the retried timeout: %+v", evs)
	}
	if g.reg.Len() != 0 || g.clk.Pending() != 0 {
		t.Fatal("something left after the retried timeout")
	}
}

// TestJournalRefusalByCommandRetriesLater: D1 — a refused passing of time
// is tried again when the clock next fires, at least 1s later, also when
// the refusal came with a command before the clock's timer fired (here a
// timer that runs 500ms late, as clock.Real's may).
func TestJournalRefusalByCommandRetriesLater(t *testing.T) {
	boom := errors.New("disk full")
	j := &memJournal{}
	clk := clock.NewManual(t0)
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{Clock: slowClock{clk, 500 * time.Millisecond}, Sink: rec, Journal: j, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec.Take()
	clk.Advance(10 * time.Second) // the deadline is due; the timer fires at 10.5s
	j.refuse = boom
	if err := r.Accept("bob", res.CallID, call.AcceptConfig{}); !errors.Is(err, call.ErrJournal) {
		t.Fatalf("Accept while the Journal refuses the timeout it brings: %v", err)
	}
	j.refuse = nil
	clk.Advance(999 * time.Millisecond) // the late timer fires at 10.5s: too soon to retry
	if evs := rec.Take(); len(evs) != 0 {
		t.Fatalf("retried %v after the refusal, want at least 1s: %v", 999*time.Millisecond, evs)
	}
	clk.Advance(time.Millisecond + 500*time.Millisecond) // 11s, and the late timer's 500ms
	evs := rec.Take()
	if len(evs) != 2 || evs[0].Kind != events.InviteesAnsweredTimeout || !evs[0].At.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("the retried timeout: %+v", evs)
	}
}

// TestRefusedInputsLeaveTheLastReading: D1, D2, D3 — only an input that
// takes effect (is journaled) moves the Registry's last clock reading, so
// a replay rebuilds it: a refused command, or a Login of a device already
// logged in, at a later reading leaves it where the last journaled input
// put it, and an input whose reading falls between the two takes effect
// at its own reading, in the original as in the replica.
func TestRefusedInputsLeaveTheLastReading(t *testing.T) {
	j := &memJournal{}
	a := newRig(t, t0, j, nil)
	a.reg.Login("alice", "a")
	if _, err := a.reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	a.clk.Advance(30 * time.Second)
	if err := a.reg.Accept("nobody", "c1", call.AcceptConfig{}); !errors.Is(err, call.ErrCallNotFound) {
		t.Fatalf("Accept by a non-member: %v", err)
	}
	a.reg.Login("alice", "a") // changes nothing
	orig, err := a.reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(orig, []byte(`"last":"2026-11-27T09:00:00Z"`)) {
		t.Fatalf("refused inputs moved the last reading: %s", orig)
	}
	b, err := call.Recover(nil, j.entries(t), call.Options{Clock: clock.NewManual(t0), NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if replayed, _ := b.Snapshot(); !bytes.Equal(replayed, orig) {
		t.Fatalf("the replica's state differs:\n%s\n%s", replayed, orig)
	}
}

// TestHostPushIsCopied: D1 — the Registry keeps its own copy of a
// command's Push, so a host that reuses its Push after the command returns
// changes neither the events already emitted (a Sink may keep them) nor
// those to come (a timeout), and a replay of the journal emits the same.
func TestHostPushIsCopied(t *testing.T) {
	j := &memJournal{}
	a := newRig(t, t0, j, nil)
	p := &events.Push{Title: "call from alice"}
	res, err := a.reg.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: 10 * time.Second, Push: p})
	if err != nil {
		t.Fatal(err)
	}
	adv := &events.Push{Title: "group call"}
	if _, err := a.reg.Invite("alice", []string{"dave"}, call.InviteConfig{Mode: events.Advanced, Timeout: 10 * time.Second, CallID: "adv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.reg.CallingInvite("alice", "adv", []string{"erin"}, call.CallingInviteConfig{Push: adv}); err != nil {
		t.Fatal(err)
	}
	cancel := &events.Push{Title: "cancelled"}
	if _, err := a.reg.Cancel("alice", res.CallID, []string{"carol"}, call.CancelConfig{Push: cancel}); err != nil {
		t.Fatal(err)
	}
	p.Title, adv.Title, cancel.Title = "reused", "reused", "reused" // the host reuses its structs
	a.clk.Advance(10 * time.Second)
	orig := a.rec.Take()
	for _, e := range orig {
		if e.Push != nil && e.Push.Title == "reused" {
			t.Fatalf("%v to %s carries the host's Push as changed after the command: %+v", e.Kind, e.To, *e.Push)
		}
	}
	rec := &events.Recorder{}
	if _, err := call.Recover(nil, j.entries(t), call.Options{Clock: clock.NewManual(t0), Sink: rec, NewID: counterIDs()}); err != nil {
		t.Fatal(err)
	}
	if got := rec.Take(); !reflect.DeepEqual(got, orig) {
		t.Fatalf("the replay differs:\n%s", diffEvents(got, orig))
	}
}

// TestRestoreRefusesBadSnapshots: D2 — corrupt, truncated, empty or
// future-version bytes are ErrInvalidArgument, never a panic.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	g := newRig(t, t0, nil, nil)
	g.reg.Login("bob", "b")
	if _, err := g.reg.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	good, err := g.reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(good), `{"callsig_snapshot":1,`) {
		t.Fatalf("the version is not the first member: %.40s", good)
	}
	bad := map[string][]byte{
		"empty":         {},
		"truncated":     good[:len(good)/2],
		"garbage":       []byte("not json"),
		"future":        []byte(strings.Replace(string(good), `"callsig_snapshot":1`, `"callsig_snapshot":2`, 1)),
		"no version":    []byte(strings.Replace(string(good), `"callsig_snapshot":1,`, ``, 1)),
		"unknown field": []byte(strings.Replace(string(good), `"callsig_snapshot":1,`, `"callsig_snapshot":1,"x":1,`, 1)),
		"bad state":     []byte(strings.Replace(string(good), `"Received"`, `"Ringing"`, 1)),
		"no deadline":   regexp.MustCompile(`"Deadline":"2026[^"]*"`).ReplaceAll(good, []byte(`"Deadline":"0001-01-01T00:00:00Z"`)),
	}
	for name, b := range bad {
		if _, err := call.Restore(b, call.Options{}); !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := call.Restore(good, call.Options{MaxInvitees: -1}); !errors.Is(err, call.ErrInvalidOption) {
		t.Errorf("bad options: %v", err)
	}
}

// TestRestoredDeadlineFiresOnNextAdvance: D2 — a deadline that passed while
// the host was down fires as soon as the restored Registry's clock fires.
func TestRestoredDeadlineFiresOnNextAdvance(t *testing.T) {
	a := newRig(t, t0, nil, nil)
	if _, err := a.reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	snap, _ := a.reg.Snapshot()
	b := newRig(t, t0.Add(time.Hour), nil, snap) // down for an hour
	if b.clk.Pending() != 1 {
		t.Fatalf("restored with %d timers, want 1", b.clk.Pending())
	}
	b.clk.Advance(0)
	evs := b.rec.Take()
	if len(evs) != 2 || evs[0].Seq != 3 || !evs[0].At.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("after restore: %+v", evs)
	}
}

// TestApplyRefusesUnreadableEntries: D1 — ErrInvalidArgument, nothing changes.
func TestApplyRefusesUnreadableEntries(t *testing.T) {
	g := newRig(t, t0, nil, nil)
	for _, e := range []call.Entry{{Op: "dance", At: t0}, {Op: call.OpInvite, At: t0, User: "a", Users: []string{"b"}}} {
		if err := g.reg.Apply(e); !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("Apply(%v) = %v", e, err)
		}
	}
	if err := g.reg.Apply(call.Entry{Op: call.OpAccept, At: t0, User: "bob", CallID: "nope"}); !errors.Is(err, call.ErrCallNotFound) {
		t.Errorf("Apply of an entry that no longer applies: %v", err)
	}
	if _, err := call.Recover(nil, []call.Entry{{Op: call.OpLogin, At: t0, User: "x"}, {Op: "dance"}}, call.Options{}); err == nil || !strings.Contains(err.Error(), "entry 1") {
		t.Errorf("Recover must name the entry it stopped at: %v", err)
	}
}

// TestClockBackwardsAcrossRestore: D3 holds across a restore — a restored
// Registry whose clock reads earlier than the snapshot's last reading acts
// at that last reading, and deadlines keep their absolute times.
func TestClockBackwardsAcrossRestore(t *testing.T) {
	a := newRig(t, t0.Add(time.Hour), nil, nil)
	if _, err := a.reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	snap, _ := a.reg.Snapshot()
	b := newRig(t, t0, nil, snap) // this host's clock is an hour behind
	if _, err := b.reg.Invite("carol", []string{"dave"}, call.InviteConfig{Timeout: 10 * time.Second, CallID: "later"}); err != nil {
		t.Fatal(err)
	}
	evs := b.rec.Take()
	if len(evs) == 0 || !evs[0].At.Equal(t0.Add(time.Hour)) || !evs[0].Deadline.Equal(t0.Add(time.Hour+10*time.Second)) {
		t.Fatalf("an earlier reading after restore: %+v", evs)
	}
}

// TestAdmitAnswersAreJournaled: H7 with D1 — the journal carries Admit's
// answers, so a replay never asks Admit and refuses the same invitees,
// keeping each error's message.
func TestAdmitAnswersAreJournaled(t *testing.T) {
	j := &memJournal{}
	clk := clock.NewManual(t0)
	rec := &events.Recorder{}
	blocked := errors.New("blocked")
	a, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, Journal: j, NewID: counterIDs(), Busy: call.BusyInCall,
		Admit: func(_, invitee string) error {
			if invitee == "mallory" {
				return blocked
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Invite("alice", []string{"mallory", "bob"}, call.InviteConfig{})
	if err != nil || len(res.Failed) != 1 || res.Failed[0].User != "mallory" || !errors.Is(res.Failed[0].Err, blocked) {
		t.Fatalf("Invite: %+v, %v", res, err)
	}
	if _, err := a.Invite("bob", []string{"alice"}, call.InviteConfig{}); err != nil { // alice is busy (H2)
		t.Fatal(err)
	}
	want := rec.Take()
	recB := &events.Recorder{}
	b, err := call.Recover(nil, j.entries(t), call.Options{Clock: clock.NewManual(t0), Sink: recB, Busy: call.BusyInCall,
		Admit: func(string, string) error { t.Fatal("a replay asked Admit"); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if got := recB.Take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("replay:\n%s", diffEvents(got, want))
	}
	if b.Len() != a.Len() {
		t.Fatalf("Len %d after replay, want %d", b.Len(), a.Len())
	}
	if _, err := call.NewRegistry(call.Options{Busy: 7}); !errors.Is(err, call.ErrInvalidOption) {
		t.Fatalf("an unknown Busy policy: %v", err)
	}
}

// TestRetrySurvivesRestore: H4 with D2 — a retry after a restore gets the
// first result, its Failure errors keeping their messages.
func TestRetrySurvivesRestore(t *testing.T) {
	admit := func(_, invitee string) error {
		if invitee == "mallory" {
			return errors.New("blocked")
		}
		return nil
	}
	clk := clock.NewManual(t0)
	a, _ := call.NewRegistry(call.Options{Clock: clk, Admit: admit})
	first, err := a.Invite("alice", []string{"bob", "mallory"}, call.InviteConfig{CallID: "room", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := a.Snapshot()
	rec := &events.Recorder{}
	b, err := call.Restore(snap, call.Options{Clock: clock.NewManual(t0.Add(time.Second)), Sink: rec, Admit: admit})
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Invite("alice", []string{"bob", "mallory"}, call.InviteConfig{CallID: "room"})
	if err != nil || again.CallID != first.CallID || !again.Deadline.Equal(first.Deadline) || len(again.Failed) != 1 ||
		again.Failed[0].Err.Error() != "blocked" || len(rec.Take()) != 0 {
		t.Fatalf("retry after restore: %+v, %v; first %+v", again, err, first)
	}
	if _, err := b.Invite("alice", []string{"mallory", "bob"}, call.InviteConfig{CallID: "room"}); !errors.Is(err, call.ErrCallExists) {
		t.Fatalf("another order is no retry: %v", err)
	}
}

// TestGlareMergeIsJournaled: H3 with H7 and D1 — a merge asks Admit
// nothing, makes no ID, and replays to the same events.
func TestGlareMergeIsJournaled(t *testing.T) {
	j := &memJournal{}
	rec := &events.Recorder{}
	asked := 0
	o := call.Options{Clock: clock.NewManual(t0), Sink: rec, Journal: j, NewID: counterIDs(), Glare: call.GlareMerge,
		Admit: func(string, string) error { asked++; return nil }}
	a, err := call.NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	res, err := a.Invite("bob", []string{"alice"}, call.InviteConfig{ExtendedData: "hi"})
	if err != nil || !res.Merged || res.CallID != "c1" || asked != 1 || a.Len() != 0 {
		t.Fatalf("merge: %+v, %v, Admit asked %d times, Len %d", res, err, asked, a.Len())
	}
	want := rec.Take()
	recB := &events.Recorder{}
	o.Sink, o.Clock, o.Journal = recB, clock.NewManual(t0), nil
	o.NewID = func() string { t.Fatal("replay made an ID"); return "" }
	if _, err := call.Recover(nil, j.entries(t), o); err != nil {
		t.Fatal(err)
	}
	if got := recB.Take(); !reflect.DeepEqual(got, want) || asked != 1 {
		t.Fatalf("replay (Admit asked %d):\n%s", asked, diffEvents(got, want))
	}
	if _, err := call.NewRegistry(call.Options{Glare: 9}); !errors.Is(err, call.ErrInvalidOption) {
		t.Fatalf("an unknown Glare policy: %v", err)
	}
}

// TestMergedRetrySurvivesRestore: H4 after H3 with D1 and D2 — what a
// retry of a merged invite needs is rebuilt by a replay and kept by a
// snapshot: the retry gets the first result, a merge, and no events.
func TestMergedRetrySurvivesRestore(t *testing.T) {
	j := &memJournal{}
	o := call.Options{Clock: clock.NewManual(t0), Journal: j, NewID: counterIDs(), Glare: call.GlareMerge}
	a, err := call.NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	first, err := a.Invite("bob", []string{"alice"}, call.InviteConfig{CallID: "back"})
	if err != nil || !first.Merged {
		t.Fatalf("merge: %+v, %v", first, err)
	}
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	recR, recS := &events.Recorder{}, &events.Recorder{}
	replayed, err := call.Recover(nil, j.entries(t), call.Options{Clock: clock.NewManual(t0), Sink: recR, Glare: call.GlareMerge})
	if err != nil {
		t.Fatal(err)
	}
	restored, err := call.Restore(snap, call.Options{Clock: clock.NewManual(t0), Sink: recS, Glare: call.GlareMerge})
	if err != nil {
		t.Fatal(err)
	}
	recR.Take() // the replay's own events
	for name, g := range map[string]struct {
		r   *call.Registry
		rec *events.Recorder
	}{"replayed": {replayed, recR}, "restored": {restored, recS}} {
		again, err := g.r.Invite("bob", []string{"alice"}, call.InviteConfig{CallID: "back"})
		if evs := g.rec.Take(); err != nil || !reflect.DeepEqual(again, first) || len(evs) != 0 || g.r.Len() != 1 {
			t.Fatalf("%s: the retry got %+v, %v, %d events (Len %d), want %+v and none", name, again, err, len(evs), g.r.Len(), first)
		}
	}
}

// TestHistorySurvivesRestore: H8 with D2 — history and its cursors survive
// Snapshot/Restore.
func TestHistorySurvivesRestore(t *testing.T) {
	clk := clock.NewManual(t0)
	a, _ := call.NewRegistry(call.Options{Clock: clk, History: 5, NewID: counterIDs()})
	for range 3 {
		if _, err := a.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	page, next, err := a.History("bob", 1, "")
	if err != nil || len(page) != 1 || page[0].CallID != "c3" || next == "" || !page[0].EndedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("first page: %+v %q %v", page, next, err)
	}
	snap, _ := a.Snapshot()
	b, err := call.Restore(snap, call.Options{Clock: clock.NewManual(clk.Now()), History: 5})
	if err != nil {
		t.Fatal(err)
	}
	rest, last, err := b.History("bob", 0, next)
	if err != nil || len(rest) != 2 || rest[0].CallID != "c2" || rest[1].CallID != "c1" || last != "" {
		t.Fatalf("after restore: %+v %q %v", rest, last, err)
	}
	if _, err := call.NewRegistry(call.Options{History: -1}); !errors.Is(err, call.ErrInvalidOption) {
		t.Fatalf("negative History: %v", err)
	}
}

// TestHistoryLimits: H8 — a page holds at most 100 calls (count <= 0 or
// over 100 means 100); a Registry restored with a smaller History keeps
// each user's newest, and with History 0 none, restored ones included.
func TestHistoryLimits(t *testing.T) {
	clk := clock.NewManual(t0)
	a, _ := call.NewRegistry(call.Options{Clock: clk, History: 150, NewID: counterIDs()})
	for range 130 {
		if _, err := a.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	for _, count := range []int{0, -1, 100, 500} {
		page, next, err := a.History("bob", count, "")
		if err != nil || len(page) != 100 || next == "" || page[0].CallID != "c130" {
			t.Fatalf("History(count %d): %d calls, next %q, %v; want the newest 100 and a next page", count, len(page), next, err)
		}
		rest, last, err := a.History("bob", count, next)
		if err != nil || len(rest) != 30 || last != "" || rest[29].CallID != "c1" {
			t.Fatalf("History(count %d), second page: %d calls, next %q, %v; want the other 30", count, len(rest), last, err)
		}
	}
	snap, _ := a.Snapshot()
	for _, n := range []int{2, 0} {
		b, err := call.Restore(snap, call.Options{Clock: clock.NewManual(clk.Now()), History: n})
		if err != nil {
			t.Fatal(err)
		}
		page, _, err := b.History("bob", 0, "")
		if err != nil || len(page) != n || (n > 0 && (page[0].CallID != "c130" || page[n-1].CallID != "c129")) {
			t.Fatalf("restored with History %d: %d calls (%v), want the newest %d", n, len(page), err, n)
		}
	}
}

// TestRestoreStartsHeartbeats: D2 with H5. A snapshot taken without
// HeartbeatTimeout, restored with it, gives every online device a
// heartbeat deadline counted from the snapshot's last clock reading: the
// device lapses exactly HeartbeatTimeout after it, and G7 applies.
func TestRestoreStartsHeartbeats(t *testing.T) {
	a := newRig(t, t0, nil, nil)
	a.reg.Login("alice", "laptop")
	res, err := a.reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a.clk.Advance(5 * time.Second)
	a.reg.Login("carol", "phone") // an input: the last reading is now t0+5s
	snap, err := a.reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	clk := clock.NewManual(t0.Add(5 * time.Second))
	rec := &events.Recorder{}
	b, err := call.Restore(snap, call.Options{Clock: clk, Sink: rec, HeartbeatTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30*time.Second - time.Nanosecond)
	if _, live := b.Call(res.CallID); !live || len(rec.Take()) != 0 {
		t.Fatal("alice's device lapsed before HeartbeatTimeout had passed since the snapshot")
	}
	clk.Advance(time.Nanosecond)
	evs := rec.Take()
	if len(evs) == 0 || evs[0].Kind != events.InvitationCancelled || evs[0].Reason != events.ReasonCallerOffline ||
		!evs[0].At.Equal(t0.Add(35*time.Second)) {
		t.Fatalf("at +35s: %+v, want bob's invitation cancelled, the caller offline (G7)", evs)
	}
	if _, live := b.Call(res.CallID); live {
		t.Fatal("the call outlived its caller's last device")
	}
}

// D1 journals the passing of time only when something falls due. A call
// computes its next due instant afresh on every change, so a not-received
// check (H6) that a login made moot leaves nothing due at its old instant:
// no Tick entry, and no timer for it, only for the deadline.
func TestNoTickForACheckNoLongerDue(t *testing.T) {
	j := &memJournal{}
	clk := clock.NewManual(t0)
	r, err := call.NewRegistry(call.Options{Clock: clk, Journal: j, NewID: counterIDs(), NotReceivedAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	r.Login("bob", "phone") // bob now has the invitation: his check is moot
	clk.Advance(9 * time.Second)
	ops := func() (s []call.Op) {
		for _, e := range j.entries(t) {
			s = append(s, e.Op)
		}
		return s
	}
	if got, want := fmt.Sprint(ops()), fmt.Sprint([]call.Op{call.OpInvite, call.OpLogin}); got != want {
		t.Fatalf("entries after the moot check's instant: %s, want %s", got, want)
	}
	if clk.Pending() != 1 {
		t.Fatalf("%d clock timers pending, want 1 (the deadline's)", clk.Pending())
	}
	clk.Advance(20 * time.Second) // the deadline: now time passes with something due
	if got, want := fmt.Sprint(ops()), fmt.Sprint([]call.Op{call.OpInvite, call.OpLogin, call.OpTick}); got != want {
		t.Fatalf("entries after the deadline: %s, want %s", got, want)
	}
	if r.Len() != 0 || clk.Pending() != 0 {
		t.Fatalf("after the deadline: %d calls, %d timers", r.Len(), clk.Pending())
	}
}

// H7 asks the host's Admit only about a list that could pass the checks
// needing no state: an invite refused for an invalid ID, a self-invite or a
// duplicate costs the host nothing, and is refused with the same error as
// without Admit.
func TestAdmitNotAskedAboutMalformedLists(t *testing.T) {
	asked := 0
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0),
		Admit: func(string, string) error { asked++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		list []string
		want error
	}{
		{[]string{"bob", "carol", "bob"}, call.ErrDuplicateInvitee},
		{[]string{"bob", "alice"}, call.ErrSelfInvite},
		{[]string{"bob", ""}, call.ErrInvalidUser},
	} {
		if _, err := r.Invite("alice", c.list, call.InviteConfig{}); !errors.Is(err, c.want) {
			t.Fatalf("Invite(alice, %q): %v, want %v", c.list, err, c.want)
		}
	}
	if asked != 0 || r.Len() != 0 {
		t.Fatalf("Admit asked %d times about malformed lists, %d calls made; want 0, 0", asked, r.Len())
	}
	if _, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{}); err != nil || asked != 2 {
		t.Fatalf("a well-formed invite: %v, Admit asked %d times, want 2", err, asked)
	}
}
