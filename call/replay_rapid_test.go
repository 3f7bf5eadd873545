package call_test

import (
	"slices"
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestReplayIsAFreshLogin: at every step of the rapid state machine, on
// two copies of the Registry (Snapshot, Restore), Replay of an online
// device sends exactly what a Login of a fresh device of the same user
// sends, ToDevice aside (G8, A7; RULES.md §2, Presence: Replay); and
// Replay leaves every call's members and presence as they were.
func TestReplayIsAFreshLogin(t *testing.T) {
	replays := 0
	defer func() { t.Logf("%d replays compared", replays) }()
	rapid.Check(t, func(t *rapid.T) {
		o := drawOptions(t)
		_ = drawPolicies(t, &o)
		r, h, clk := checkedRegistry(t, o)
		copyOf := func(snap []byte) (*call.Registry, *events.Recorder) {
			var rr events.Recorder
			co := o
			co.Clock, co.Sink, co.NewID = clock.NewManual(clk.Now()), &rr, calltest.IDs("x")
			c, err := call.Restore(snap, co)
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			return c, &rr
		}
		replay := func(t *rapid.T) {
			online := r.Online()
			if len(online) == 0 {
				return
			}
			d := rapid.SampledFrom(online).Draw(t, "replay device")
			snap, err := r.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			a, ae := copyOf(snap)
			b, be := copyOf(snap)
			before := map[string]call.Info{}
			for _, id := range a.LiveCalls(d.User) {
				before[id], _ = a.Call(id)
			}
			if err := a.Replay(d.User, d.Device); err != nil {
				t.Fatalf("Replay(%q, %q): %v", d.User, d.Device, err)
			}
			fresh := "fresh-device"
			if err := b.Login(d.User, fresh); err != nil {
				t.Fatal(err)
			}
			got, want := ae.Take(), be.Take()
			for i := range want {
				if want[i].ToDevice != fresh {
					t.Fatalf("Login's event %d has ToDevice %q", i, want[i].ToDevice)
				}
				want[i].ToDevice = d.Device
			}
			if diff := diffStreams(want, got); diff != "" {
				t.Fatalf("Replay(%q, %q) after step %d, against a fresh Login: %s", d.User, d.Device, h.Steps, diff)
			}
			for id, w := range before {
				g, ok := a.Call(id)
				for i := range g.Members {
					if !ok || g.Members[i] != w.Members[i] {
						t.Fatalf("Replay changed call %s: %+v, was %+v", id, g, w)
					}
				}
			}
			if !slices.Equal(a.Online(), r.Online()) {
				t.Fatalf("Replay changed presence")
			}
			replays++
		}
		actions := h.Actions()
		actions["replay"] = replay
		actions[""] = func(t *rapid.T) { h.Check(t) }
		t.Repeat(actions)
	})
}
