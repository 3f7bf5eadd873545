package call_test

import (
	"fmt"
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestNestedInputsEqualSequential: Registry B runs some commands from inside
// Emit of an earlier command's event (C2), Registry A runs the same
// commands one after another. A command made from inside Emit takes
// effect at once, after the change whose event is being delivered (C2,
// C3): their answers, each call's event stream and the final state are
// the same.
func TestNestedInputsEqualSequential(t *testing.T) {
	nested := 0
	defer func() { t.Logf("%d nested commands", nested) }()
	rapid.Check(t, func(t *rapid.T) {
		o := drawOptions(t)
		o.TransientMembers = rapid.Bool().Draw(t, "transient")
		_ = drawPolicies(t, &o)
		clkA, clkB := clock.NewManual(rapidStart), clock.NewManual(rapidStart)
		recA, recB := &events.Recorder{}, &events.Recorder{}
		type job struct {
			c calltest.Command
			i int
		}
		var (
			b       *call.Registry
			pending []job // to run from inside B's next Emit
			resB    = map[int]calltest.Result{}
			inEmit  bool
		)
		sinkB := events.SinkFunc(func(e events.Event) {
			recB.Emit(e)
			if inEmit || len(pending) == 0 {
				return
			}
			inEmit = true
			j := pending[0]
			pending = pending[1:]
			resB[j.i] = calltest.Do(b, nil, j.c)
			nested++
			inEmit = false
		})
		ao, bo := o, o
		ao.Clock, ao.Sink, ao.NewID = clkA, recA, calltest.IDs("c")
		bo.Clock, bo.Sink, bo.NewID = clkB, sinkB, calltest.IDs("c")
		a, err := call.NewRegistry(ao)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = call.NewRegistry(bo); err != nil {
			t.Fatal(err)
		}
		model := modelOf(o)
		gen := calltest.Commands(model, calltest.DefaultUsers)
		steps := rapid.IntRange(0, 100).Draw(t, "steps")
		var resA []calltest.Result
		for i := 0; i < steps; i++ {
			c := gen.Draw(t, "input")
			model.Do(c)
			resA = append(resA, calltest.Do(a, clkA.Advance, c))
			if c.Op == calltest.OpAdvance || !rapid.Bool().Draw(t, "nest the next") {
				resB[i] = calltest.Do(b, clkB.Advance, c)
				continue
			}
			d := gen.Draw(t, "nested input")
			if d.Op == calltest.OpAdvance {
				resB[i] = calltest.Do(b, clkB.Advance, c)
				model.Do(d)
				i++
				resA = append(resA, calltest.Do(a, clkA.Advance, d))
				resB[i] = calltest.Do(b, clkB.Advance, d)
				continue
			}
			model.Do(d)
			resA = append(resA, calltest.Do(a, clkA.Advance, d))
			pending = append(pending, job{d, i + 1})
			resB[i] = calltest.Do(b, nil, c)
			for len(pending) > 0 { // c emitted nothing
				j := pending[0]
				pending = pending[1:]
				resB[j.i] = calltest.Do(b, nil, j.c)
			}
			i++
		}
		if len(resA) != len(resB) {
			t.Fatalf("%d answers from A, %d from B", len(resA), len(resB))
		}
		for i := range resA {
			if fmt.Sprint(resA[i]) != fmt.Sprint(resB[i]) {
				t.Fatalf("answer %d: A %+v, B %+v", i, resA[i], resB[i])
			}
		}
		evA, evB := recA.Take(), recB.Take()
		byCall := func(evs []events.Event) map[string][]events.Event {
			m := map[string][]events.Event{}
			for _, e := range evs {
				m[e.CallID] = append(m[e.CallID], e)
			}
			return m
		}
		ma, mb := byCall(evA), byCall(evB)
		if len(ma) != len(mb) {
			t.Fatalf("events of %d calls from A, %d from B", len(ma), len(mb))
		}
		for id, ea := range ma {
			if d := diffStreams(ea, mb[id]); d != "" {
				t.Fatalf("call %s: %s", id, d)
			}
		}
		sa, _ := a.Snapshot()
		sb, _ := b.Snapshot()
		if string(sa) != string(sb) {
			t.Fatalf("state:\nA %s\nB %s", sa, sb)
		}
	})
}
