package call_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// The tests of this file pin choices RULES.md §8 states where the rules
// alone left the answer open. Each test names the choice it pins.

// newChoiceRegistry makes a Registry on a Manual clock whose call IDs are
// c1, c2, … and whose events land in the returned Recorder.
func newChoiceRegistry(t *testing.T, o call.Options) (*call.Registry, *events.Recorder) {
	t.Helper()
	rec := &events.Recorder{}
	n := 0
	o.Clock = clock.NewManual(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	o.Sink = rec
	o.NewID = func() string { n++; return fmt.Sprintf("c%d", n) }
	r, err := call.NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, rec
}

// brief renders events one per line: "seq kind -> to (reason)".
func brief(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s#%d %v -> %s", e.CallID, e.Seq, e.Kind, e.To)
		if e.Reason != events.ReasonNone {
			fmt.Fprintf(&b, " (%v)", e.Reason)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestChoiceCallerWhoQuitStillCancelsOnLogout pins RULES.md §8 "A caller who
// quit": G7 looks at whether an invitee is Accepted, not at the caller's
// own state, so a caller who quit an advanced call before anyone answered
// still cancels the pending invitees when its last device logs out.
func TestChoiceCallerWhoQuitStillCancelsOnLogout(t *testing.T) {
	r, rec := newChoiceRegistry(t, call.Options{})
	r.Login("alice", "pc")
	res, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Quit("alice", res.CallID, call.QuitConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Call(res.CallID); !ok {
		t.Fatal("the call ended when the caller quit with invitees pending (A4 says it goes on)")
	}
	rec.Take()
	r.Logout("alice", "pc")
	want := "c1#7 InvitationCancelled -> bob (CallerOffline)\nc1#8 InvitationCancelled -> carol (CallerOffline)\n"
	if got := brief(rec.Take()); got != want {
		t.Errorf("logout of a caller who quit:\n got %s\nwant %s", got, want)
	}
	if r.Len() != 0 {
		t.Errorf("Len = %d after G7, want 0", r.Len())
	}
}

// TestChoiceBusySeesOnlyLiveCalls pins RULES.md §8 "What Busy sees": H2
// looks at live calls only. A general call is over, and forgotten, as soon
// as nobody is pending (G6), so two users talking after one was answered
// are not busy; in an advanced call the Accepted members stay busy until
// they quit or the call ends.
func TestChoiceBusySeesOnlyLiveCalls(t *testing.T) {
	r, rec := newChoiceRegistry(t, call.Options{Busy: call.BusyInCall})
	res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Accept("bob", res.CallID, call.AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Fatalf("a general call with nobody pending is live (Len %d)", r.Len())
	}
	rec.Take()
	if _, err := r.Invite("carol", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	want := "c2#1 InvitationCreated -> carol\nc2#2 InvitationReceived -> bob\n"
	if got := brief(rec.Take()); got != want {
		t.Errorf("bob after his general call was answered:\n got %s\nwant %s", got, want)
	}

	adv, err := r.Invite("dave", []string{"erin"}, call.InviteConfig{Mode: events.Advanced})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Accept("erin", adv.CallID, call.AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	if _, err := r.Invite("frank", []string{"erin"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	want = "c4#1 InvitationCreated -> frank\nc4#2 InvitationRejected -> frank (Busy)\n"
	if got := brief(rec.Take()); got != want {
		t.Errorf("erin Accepted in a live advanced call:\n got %s\nwant %s", got, want)
	}
}

// TestChoiceAdmitCanMarkBusy pins RULES.md §8 "What Busy sees", second
// half: a host that knows a user is on a media call the Registry has
// forgotten refuses it through Admit; the invitee is listed in Failed and
// is not rung.
func TestChoiceAdmitCanMarkBusy(t *testing.T) {
	onMedia := map[string]bool{"bob": true}
	errOnMedia := fmt.Errorf("on a media call")
	r, rec := newChoiceRegistry(t, call.Options{Admit: func(_, invitee string) error {
		if onMedia[invitee] {
			return errOnMedia
		}
		return nil
	}})
	res, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].User != "bob" || res.Failed[0].Err != errOnMedia {
		t.Errorf("Failed = %+v, want bob refused by Admit", res.Failed)
	}
	want := "c1#1 InvitationCreated -> alice\nc1#2 InvitationReceived -> carol\n"
	if got := brief(rec.Take()); got != want {
		t.Errorf("invite with bob refused by Admit:\n got %s\nwant %s", got, want)
	}
}
