package call_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

var errFlaky = errors.New("flaky journal")

// flakyJournal refuses the appends whose numbers refuse holds.
type flakyJournal struct {
	n      int
	refuse map[int]bool
	off    bool
}

func (j *flakyJournal) Append(call.Entry) error {
	j.n++
	if !j.off && j.refuse[j.n] {
		return errFlaky
	}
	return nil
}

// TestRefusedInputsNeverHappened: a Registry A whose Journal refuses
// drawn appends, and a Registry B with no Journal given only the inputs A
// did not refuse with ErrJournal, deliver the same events, in the same
// order, answer the same, and end in the same state (D1: a refused input
// does not happen; a refused passing of time stays due).
func TestRefusedInputsNeverHappened(t *testing.T) {
	refusals := 0
	defer func() { t.Logf("%d refused inputs", refusals) }()
	rapid.Check(t, func(t *rapid.T) {
		o := drawOptions(t)
		o.TransientMembers = rapid.Bool().Draw(t, "transient")
		_ = drawPolicies(t, &o)
		late := rapid.SampledFrom([]time.Duration{0, 0, 700 * time.Millisecond, neverFires}).Draw(t, "timer lateness")
		steps := rapid.IntRange(0, 120).Draw(t, "steps")
		refuse := map[int]bool{}
		for i := 1; i <= 400; i++ {
			if rapid.IntRange(0, 4).Draw(t, fmt.Sprint("refuse ", i)) == 0 {
				refuse[i] = true
			}
		}
		j := &flakyJournal{refuse: refuse}
		var nextID string
		madeID := func() string { return nextID }

		clkA, clkB := clock.NewManual(rapidStart), clock.NewManual(rapidStart)
		recA, recB := &events.Recorder{}, &events.Recorder{}
		ao, bo := o, o
		ao.Clock, ao.Sink, ao.NewID, ao.Journal = slowClock{clkA, late}, recA, calltest.IDs("c"), j
		bo.Clock, bo.Sink, bo.NewID = slowClock{clkB, late}, recB, madeID
		a, err := call.NewRegistry(ao)
		if err != nil {
			t.Fatal(err)
		}
		b, err := call.NewRegistry(bo)
		if err != nil {
			t.Fatal(err)
		}
		mo := o
		mo.NewID = madeID
		model := calltest.NewModel(mo, rapidStart)
		gen := calltest.Commands(model, calltest.DefaultUsers)
		var evA, evB []events.Event
		flush := calltest.Command{Op: calltest.OpAccept, User: "nobody", CallID: "no-such-call"}
		for step := 0; step <= steps; step++ {
			c := flush
			if step < steps {
				c = gen.Draw(t, "input")
			} else {
				j.off = true
			}
			ra := calltest.Do(a, clkA.Advance, c)
			evA = append(evA, recA.Take()...)
			if c.Op != calltest.OpAdvance && errors.Is(ra.Err, call.ErrJournal) {
				if !errors.Is(ra.Err, errFlaky) {
					t.Fatalf("step %d: %v: %v, not the Journal's error", step, c, ra.Err)
				}
				refusals++
				continue
			}
			nextID = ra.Invite.CallID
			rb := calltest.Do(b, clkB.Advance, c)
			evB = append(evB, recB.Take()...)
			model.Do(c)
			if (ra.Err == nil) != (rb.Err == nil) || ra.Err != nil && call.Code(ra.Err) != call.Code(rb.Err) ||
				fmt.Sprint(ra.Invite, ra.Failed, ra.Info) != fmt.Sprint(rb.Invite, rb.Failed, rb.Info) {
				t.Fatalf("step %d: %v: A %+v, B %+v", step, c, ra, rb)
			}
		}
		if d := diffStreams(evB, evA); d != "" {
			t.Fatalf("A's events against B's: %s", d)
		}
		if a.Len() != b.Len() {
			t.Fatalf("Len: A %d, B %d", a.Len(), b.Len())
		}
		for _, e := range evA {
			ia, oka := a.Call(e.CallID)
			ib, okb := b.Call(e.CallID)
			if oka != okb || calltest.DiffInfo(ib, ia) != "" {
				t.Fatalf("call %s: A %v %+v, B %v %+v", e.CallID, oka, ia, okb, ib)
			}
		}
		for _, u := range calltest.DefaultUsers {
			ha, _, _ := a.History(u, 0, "")
			hb, _, _ := b.History(u, 0, "")
			if fmt.Sprint(ha) != fmt.Sprint(hb) {
				t.Fatalf("history of %s: A %v, B %v", u, ha, hb)
			}
			if fmt.Sprint(a.Devices(u)) != fmt.Sprint(b.Devices(u)) {
				t.Fatalf("devices of %s: A %v, B %v", u, a.Devices(u), b.Devices(u))
			}
		}
	})
}
