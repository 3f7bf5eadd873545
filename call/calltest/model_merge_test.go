package calltest_test

import (
	"fmt"
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestModelKeepsOneMergePerMember: H4 after H3 — a call keeps one merged
// retry per member, that member's latest merge with a host-chosen CallID,
// and a merge without one drops it. Once zoë merged again, a retry of her
// earlier merge is a new invite; the Model must answer it as the Registry
// does.
func TestModelKeepsOneMergePerMember(t *testing.T) {
	for _, second := range []string{"h2", ""} {
		t.Run(fmt.Sprintf("second merge with CallID %q", second), func(t *testing.T) {
			o := call.Options{Glare: call.GlareMerge, NewID: calltest.IDs("c")}
			m := calltest.NewModel(o, t0)
			ro := o
			ro.Clock, ro.NewID = clock.NewManual(t0), calltest.IDs("c")
			r, err := call.NewRegistry(ro)
			if err != nil {
				t.Fatal(err)
			}
			both := func(c calltest.Command) calltest.Result {
				t.Helper()
				want := calltest.Do(r, nil, c)
				got, _ := m.Do(c)
				if d := calltest.DiffResult(want, got); d != "" {
					t.Fatalf("%v: the Model %s", c, d)
				}
				return want
			}
			both(calltest.Command{Op: calltest.OpInvite, User: "alice", Users: []string{"zoë"}, Mode: events.Advanced})
			if res := both(calltest.Command{Op: calltest.OpInvite, User: "zoë", Users: []string{"alice"}, CallID: "h1"}); !res.Invite.Merged {
				t.Fatalf("zoë's first invite: %+v, want a merge", res)
			}
			both(calltest.Command{Op: calltest.OpQuit, User: "zoë", CallID: "c1"})
			both(calltest.Command{Op: calltest.OpCallingInvite, User: "alice", CallID: "c1", Users: []string{"zoë"}})
			if res := both(calltest.Command{Op: calltest.OpInvite, User: "zoë", Users: []string{"alice"}, CallID: second}); !res.Invite.Merged {
				t.Fatalf("zoë's second invite: %+v, want a merge", res)
			}
			if res := both(calltest.Command{Op: calltest.OpInvite, User: "zoë", Users: []string{"alice"}, CallID: "h1"}); res.Invite.Merged || res.Invite.CallID != "h1" {
				t.Fatalf("zoë's first invite again: %+v, want a new call h1", res)
			}
		})
	}
}
