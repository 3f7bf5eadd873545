package call_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestJournalRapid is the durability property (D1, D2, C4), over inputs
// drawn by calltest's generators: both modes, every command valid and
// not, presence, heartbeats and the passing of time, under drawn Options
// and host policies (drawPolicies: Busy, Glare, HeartbeatTimeout,
// NotReceivedAfter, Admit, History, each on in some runs) and, in some
// runs, a clock whose timers run late or never. Registry A runs the inputs
// with a Journal that keeps each Entry as a JSON line, and is snapshotted
// at a drawn step; at the end an input that must fail brings A up to the
// clock (the Time rule). Then
//
//   - replay: the journal, decoded from its JSON lines, recovered into a
//     new Registry B (call.Recover), which never asks Options.NewID or
//     Options.Admit (the entries carry their answers), emits exactly the
//     events A emitted (compared after a JSON round trip of both, as a
//     host that stores events would see them) and reaches A's state: the
//     same Call for every call ID, the same Len, the same Snapshot but for
//     the last clock reading (an input that changes nothing is not
//     journaled, yet moves A's clock, D3);
//   - resume: A's snapshot, restored (call.Restore) into Registry C on a
//     fresh clock.Manual at the snapshot's time and NewID continuing A's
//     sequence, and driven on with the inputs that followed, emits the
//     events A emitted from that step on and reaches A's state.
//
// `go test` runs rapid's default 100 checks; CI runs it with
// -rapid.checks=1000 (see TestRegistryRapid).
func TestJournalRapid(t *testing.T) {
	rapid.Check(t, journalMachine)
	// With TransientMembers, every burst of due deadlines is processed
	// and delivered in slices of one event (B4): what the Sink gets, and
	// the state, must not change.
	t.Run("TransientMembers", func(t *testing.T) {
		defer call.SetSliceEvents(1)()
		rapid.Check(t, journalMachineTransient)
	})
}

// jsonJournal keeps each Entry as a JSON line, as a file journal would.
type jsonJournal struct{ lines [][]byte }

func (j *jsonJournal) Append(e call.Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.lines = append(j.lines, b)
	return nil
}

func (j *jsonJournal) decode(t *rapid.T) []call.Entry {
	var out []call.Entry
	for _, l := range j.lines {
		var e call.Entry
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("decode journal line %s: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// countingIDs is calltest.IDs that counts the IDs it made, so that a
// restored Registry can go on with the same sequence.
type countingIDs struct {
	next func() string
	n    int
}

func (c *countingIDs) newID() string {
	c.n++
	return c.next()
}

// idsFromN is calltest.IDs(prefix) with its first n IDs used up.
func idsFromN(prefix string, n int) func() string {
	f := calltest.IDs(prefix)
	for range n {
		f()
	}
	return f
}

func journalMachine(t *rapid.T) { runJournalMachine(t, false) }

// journalMachineTransient is journalMachine with Options.TransientMembers
// on every Registry: the same draws, so the same runs, with memory reused.
func journalMachineTransient(t *rapid.T) { runJournalMachine(t, true) }

func runJournalMachine(t *rapid.T, transient bool) {
	o := drawOptions(t)
	o.TransientMembers = transient
	misuse := drawPolicies(t, &o)
	late := rapid.SampledFrom([]time.Duration{0, 0, 0, time.Nanosecond, 700 * time.Millisecond, 5 * time.Second, neverFires}).Draw(t, "timer lateness")
	prefix := rapid.SampledFrom([]string{"c", "h"}).Draw(t, "NewID prefix")
	steps := rapid.IntRange(0, 150).Draw(t, "steps")
	snapAt := rapid.IntRange(0, steps).Draw(t, "snapshot at step")

	clkA := clock.NewManual(rapidStart)
	recA := &events.Recorder{}
	journal := &jsonJournal{}
	ids := &countingIDs{next: calltest.IDs(prefix)}
	ao := o
	ao.Clock, ao.Sink, ao.NewID, ao.Journal = slowClock{clkA, late}, recA, ids.newID, journal
	a, err := call.NewRegistry(ao)
	if err != nil {
		t.Fatalf("NewRegistry(%+v): %v", o, err)
	}
	// The Model only aims the generators here: TestRegistryRapid checks
	// the Registry against it.
	mo := o
	mo.NewID = calltest.IDs(prefix)
	model := calltest.NewModel(mo, rapidStart)
	gen := calltest.Commands(model, calltest.DefaultUsers)

	var (
		inputs   []calltest.Command
		emitted  []events.Event // by A, in order
		snap     []byte
		snapTime time.Time // A's clock at the snapshot
		snapIDs  int       // IDs A had made by then
		snapEvs  int       // events A had emitted by then
	)
	// The last input is one that must fail: it changes nothing but brings
	// A up to its clock's reading (the Time rule), so that what fell due
	// under a late timer is processed in every run.
	flush := calltest.Command{Op: calltest.OpAccept, User: "nobody", CallID: "no-such-call"}
	for step := 0; step <= steps; step++ {
		if step == snapAt {
			if snap, err = a.Snapshot(); err != nil {
				t.Fatalf("Snapshot at step %d: %v", step, err)
			}
			snapTime, snapIDs, snapEvs = clkA.Now(), ids.n, len(emitted)
		}
		c := flush
		if step < steps {
			c = gen.Draw(t, "input")
		}
		inputs = append(inputs, c)
		calltest.Do(a, clkA.Advance, c)
		model.Do(c)
		emitted = append(emitted, recA.Take()...)
	}

	// Every call ID A used, and some it did not.
	callIDs := []string{"h1", "h2", "h3", "no-such-call"}
	for _, e := range emitted {
		if !slices.Contains(callIDs, e.CallID) {
			callIDs = append(callIDs, e.CallID)
		}
	}

	if m := misuse(); m != "" {
		t.Fatal(m)
	}

	// Replay: the whole journal, through JSON, into B. D1: Apply never
	// calls NewID or Admit.
	bo := o
	recB := &events.Recorder{}
	var asked string
	bo.Clock, bo.Sink = clock.NewManual(clkA.Now()), recB
	bo.NewID = func() string {
		asked = "NewID"
		return "replay-made-an-id"
	}
	if o.Admit != nil {
		bo.Admit = func(inviter, invitee string) error {
			asked = fmt.Sprintf("Admit(%q, %q)", inviter, invitee)
			return o.Admit(inviter, invitee)
		}
	}
	b, err := call.Recover(nil, journal.decode(t), bo)
	if err != nil {
		t.Fatalf("Recover from the journal (%d entries): %v", len(journal.lines), err)
	}
	if asked != "" {
		t.Fatalf("Recover called Options.%s (D1: the journal carries the answers)", asked)
	}
	if d := diffStreams(emitted, recB.Take()); d != "" {
		t.Fatalf("replaying the journal: %s", d)
	}
	sameState(t, "replayed Registry", a, b, callIDs, true)

	// Resume: A's snapshot at step snapAt, restored into C, and the inputs
	// from that step on.
	clkC := clock.NewManual(snapTime)
	recC := &events.Recorder{}
	co := o
	co.Clock, co.Sink, co.NewID = slowClock{clkC, late}, recC, idsFromN(prefix, snapIDs)
	c, err := call.Restore(snap, co)
	if err != nil {
		t.Fatalf("Restore(snapshot at step %d): %v\n%s", snapAt, err, snap)
	}
	for _, in := range inputs[snapAt:] {
		calltest.Do(c, clkC.Advance, in)
	}
	if d := diffStreams(emitted[snapEvs:], recC.Take()); d != "" {
		t.Fatalf("restored at step %d and driven on: %s", snapAt, d)
	}
	sameState(t, fmt.Sprintf("Registry restored at step %d", snapAt), a, c, callIDs, false)
	if m := misuse(); m != "" { // C asks Admit afresh
		t.Fatal(m)
	}
}

// diffStreams compares two event streams after a JSON round trip of both
// and returns "" when they are deeply equal, else a readable difference.
func diffStreams(want, got []events.Event) string {
	w, g := normalize(want), normalize(got)
	if reflect.DeepEqual(w, g) {
		return ""
	}
	if d := calltest.DiffEvents(w, g); d != "" {
		return d
	}
	for i := range w { // equal field by field: show the first deep difference
		if !reflect.DeepEqual(w[i], g[i]) {
			return fmt.Sprintf("event %d: got %#v\nwant %#v", i, g[i], w[i])
		}
	}
	return "streams differ"
}

// sameState fails unless got shows want's state: Len, Call for every ID of
// ids, and the Snapshot, byte for byte. A replay (exactLast) rebuilds the
// last clock reading too (D2), which only inputs that take effect move
// (D3). A Registry restored and then driven live has timers of its own,
// armed at the restore: when they fire late, the passing of time they
// bring is taken at other readings than the original's (its events carry
// the due instants, the same in both), so its last reading is left out.
func sameState(t *rapid.T, what string, want, got *call.Registry, ids []string, exactLast bool) {
	t.Helper()
	if w, g := want.Len(), got.Len(); w != g {
		t.Fatalf("%s: Len() = %d, want %d", what, g, w)
	}
	for _, id := range ids {
		w, wok := want.Call(id)
		g, gok := got.Call(id)
		if wok != gok {
			t.Fatalf("%s: Call(%q) found = %v, want %v", what, id, gok, wok)
		}
		if d := calltest.DiffInfo(w, g); d != "" {
			t.Fatalf("%s: Call(%q): %s", what, id, d)
		}
	}
	ws, err := want.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := got.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !exactLast {
		ws, gs = withoutLast(ws), withoutLast(gs)
	}
	if !bytes.Equal(ws, gs) {
		t.Fatalf("%s: snapshot differs:\ngot  %s\nwant %s", what, gs, ws)
	}
}

// TestCallingInvitePush: an invitee rung by a CallingInvite keeps that
// command's push settings — none, an empty Push and a set one apart — for
// the events that follow its ring (its InvitationTimeout here; RULES.md §3:
// the invite's push), whatever the Invite's, live and across Snapshot and
// Restore (D2). TestRegistryRapid and TestJournalRapid draw these cases;
// this test names them.
func TestCallingInvitePush(t *testing.T) {
	set := &events.Push{Title: "t"}
	for _, tc := range []struct {
		name            string
		invite, calling *events.Push
	}{
		{"none after none", nil, nil},
		{"none after empty", &events.Push{}, nil},
		{"none after set", set, nil},
		{"empty after none", nil, &events.Push{}},
		{"empty after empty", &events.Push{}, &events.Push{}},
		{"empty after set", set, &events.Push{}},
		{"set after none", nil, set},
		{"set after empty", &events.Push{}, set},
		{"same as the invite's", set, &events.Push{Title: "t"}},
	} {
		for _, restore := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/restore=%v", tc.name, restore), func(t *testing.T) {
				clk := clock.NewManual(t0)
				rec := &events.Recorder{}
				r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: calltest.IDs("c")})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced, Push: tc.invite}); err != nil {
					t.Fatal(err)
				}
				if err := r.Accept("bob", "c1", call.AcceptConfig{}); err != nil {
					t.Fatal(err)
				}
				if _, err := r.CallingInvite("bob", "c1", []string{"carol"}, call.CallingInviteConfig{Push: tc.calling}); err != nil {
					t.Fatal(err)
				}
				if restore {
					snap, err := r.Snapshot()
					if err != nil {
						t.Fatal(err)
					}
					clk = clock.NewManual(clk.Now())
					if r, err = call.Restore(snap, call.Options{Clock: clk, Sink: rec}); err != nil {
						t.Fatal(err)
					}
				}
				rec.Take()
				clk.Advance(call.DefaultTimeout)
				if info, ok := r.Call("c1"); !ok || info.Members[2].State != events.Timeout {
					t.Fatalf("after carol's deadline: Call = %+v, %v; want live, carol Timeout", info, ok)
				}
				for _, e := range rec.Take() {
					if e.Kind == events.InvitationTimeout && e.To == "carol" {
						if (e.Push == nil) != (tc.calling == nil) || e.Push != nil && *e.Push != *tc.calling {
							t.Fatalf("carol's InvitationTimeout has push %+v, want %+v (her CallingInvite's)", e.Push, tc.calling)
						}
						return
					}
				}
				t.Fatal("carol got no InvitationTimeout")
			})
		}
	}
}

// withoutLast drops what in a snapshot depends on when the clock's timer
// fired rather than on the inputs: the last clock reading, and the count
// of entries journaled (JournalIndex), since each firing that finds
// something due journals the passing of time as an entry of its own, so a
// timer that fires late, once for two deadlines, journals one entry where
// a punctual one journals two.
func withoutLast(snap []byte) []byte {
	snap = regexp.MustCompile(`"last":"[^"]*",`).ReplaceAll(snap, nil)
	return regexp.MustCompile(`"journal":[0-9]+,`).ReplaceAll(snap, nil)
}
