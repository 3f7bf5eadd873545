package call_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// deliver is what a host's Sink does with an event: send it to the online
// devices of e.To (to e.ToDevice alone, when set), or, when e.Offline, send
// a push built from e.Push or drop it. Here it prints one line per event.
func deliver(e events.Event) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s#%d to %s", e.CallID, e.Seq, e.To)
	if e.ToDevice != "" {
		fmt.Fprintf(&b, "/%s", e.ToDevice)
	}
	if e.Offline {
		b.WriteString(" (offline")
		if e.Push != nil {
			fmt.Fprintf(&b, ", push %q", e.Push.Title)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ": %v", e.Kind)
	if e.From != "" {
		fmt.Fprintf(&b, " from %s", e.From)
	}
	if e.Device != "" {
		fmt.Fprintf(&b, "/%s", e.Device)
	}
	if e.Data != "" {
		fmt.Fprintf(&b, " %q", e.Data)
	}
	if e.Kind == events.InviteesAnsweredTimeout {
		for _, m := range e.Members {
			fmt.Fprintf(&b, " %s", m.User)
		}
	}
	if e.Reason != events.ReasonNone {
		fmt.Fprintf(&b, " (%v)", e.Reason)
	}
	fmt.Println(b.String())
}

// The caller invites two users (G2). bob is online and rings at once; carol
// is offline: her event is marked Offline, for the host to send as a push.
func ExampleRegistry_Invite() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Now()),
		Sink:  events.SinkFunc(deliver),
		NewID: func() string { return "c1" },
	})
	r.Login("bob", "phone")

	res, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{
		Timeout:      30 * time.Second,
		ExtendedData: "video",
		Push:         &events.Push{Title: "alice is calling"},
	})
	fmt.Println(res.CallID, res.Timeout, err)

	info, _ := r.Call("c1")
	for _, m := range info.Members {
		fmt.Println(m.User, m.State)
	}
	// Output:
	// c1#1 to alice (offline): InvitationCreated from alice "video"
	// c1#2 to bob: InvitationReceived from alice "video"
	// c1#3 to carol (offline, push "alice is calling"): InvitationReceived from alice "video"
	// c1 30s <nil>
	// alice Accepted
	// bob Received
	// carol Inviting
}

// The caller cancels the invitation (G4): every invitee still pending gets
// InvitationCancelled, and the call is over.
func ExampleRegistry_Cancel() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Now()),
		Sink:  events.SinkFunc(deliver),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	r.Login("bob", "phone")
	res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{})

	failed, err := r.Cancel("alice", res.CallID, nil, call.CancelConfig{ExtendedData: "sorry"})
	fmt.Println(failed, err)

	_, err = r.Cancel("alice", res.CallID, nil, call.CancelConfig{})
	fmt.Println(errors.Is(err, call.ErrCallNotFound))
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob: InvitationReceived from alice
	// c1#3 to bob: InvitationCancelled from alice "sorry" (Cancelled)
	// [] <nil>
	// true
}

// The invitee accepts (G3): the caller gets InvitationAccepted, then the
// invitee gets UserStateChanged about itself, naming the device that
// answered, so that its other devices stop ringing.
func ExampleRegistry_Accept() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Now()),
		Sink:  events.SinkFunc(deliver),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	r.Login("bob", "phone")
	r.Login("bob", "tablet")
	res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{})

	err := r.Accept("bob", res.CallID, call.AcceptConfig{ExtendedData: "hi", Device: "tablet"})
	fmt.Println(err)

	// Nobody is pending any more: the call is over (G6).
	_, live := r.Call(res.CallID)
	fmt.Println(live, r.Len())
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob: InvitationReceived from alice
	// c1#3 to alice: InvitationAccepted from bob/tablet "hi"
	// c1#4 to bob: UserStateChanged from bob/tablet "hi"
	// <nil>
	// false 0
}

// The invitee refuses (G3): the caller gets InvitationRejected. A different
// answer afterwards is refused: here the call is already over.
func ExampleRegistry_Reject() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Now()),
		Sink:  events.SinkFunc(deliver),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	r.Login("bob", "phone")
	res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{})

	err := r.Reject("bob", res.CallID, call.RejectConfig{ExtendedData: "in a meeting"})
	fmt.Println(err)

	err = r.Accept("bob", res.CallID, call.AcceptConfig{})
	fmt.Println(errors.Is(err, call.ErrCallNotFound))
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob: InvitationReceived from alice
	// c1#3 to alice: InvitationRejected from bob "in a meeting" (Rejected)
	// c1#4 to bob: UserStateChanged from bob "in a meeting" (Rejected)
	// <nil>
	// true
}

// An invitee that was offline when invited gets the invitation when a
// device of it logs in (G8): sent to that device alone, with its original
// deadline; it becomes Received.
func ExampleRegistry_Login() {
	clk := clock.NewManual(time.Now())
	r, _ := call.NewRegistry(call.Options{
		Clock: clk,
		Sink:  events.SinkFunc(deliver),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{
		Timeout: time.Minute,
		Push:    &events.Push{Title: "alice is calling"},
	})

	clk.Advance(20 * time.Second)
	r.Login("bob", "phone")

	info, _ := r.Call(res.CallID)
	bob := info.Members[1]
	fmt.Println(bob.User, bob.State, bob.Deadline.Sub(clk.Now()))
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob (offline, push "alice is calling"): InvitationReceived from alice
	// c1#3 to bob/phone: InvitationReceived from alice
	// bob Received 40s
}

// When the caller's last device logs out before anyone accepted, every
// pending invitee is cancelled with Reason CallerOffline (G7).
func ExampleRegistry_Logout() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Now()),
		Sink:  events.SinkFunc(deliver),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	r.Login("bob", "phone")
	r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{})

	r.Logout("alice", "pc")
	fmt.Println(r.Len())
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob: InvitationReceived from alice
	// c1#3 to carol (offline): InvitationReceived from alice
	// c1#4 to bob: InvitationCancelled from alice (CallerOffline)
	// c1#5 to carol (offline): InvitationCancelled from alice (CallerOffline)
	// 0
}

// Invitations time out by the clock (G5). With a clock.Manual, time stands
// still until the test moves it, and Advance delivers the timeouts that fall
// due before it returns: the caller gets one InviteesAnsweredTimeout naming
// everyone who timed out at that instant, then each of them gets
// InvitationTimeout.
func ExampleRegistry_timeout() {
	clk := clock.NewManual(time.Now())
	r, _ := call.NewRegistry(call.Options{
		Clock: clk,
		Sink:  events.SinkFunc(deliver),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	r.Login("bob", "phone")
	r.Login("carol", "phone")
	r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: 30 * time.Second})

	clk.Advance(29 * time.Second)
	fmt.Println("29s:", r.Len(), "call")
	clk.Advance(time.Second)
	fmt.Println("30s:", r.Len(), "calls,", clk.Pending(), "timers")
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob: InvitationReceived from alice
	// c1#3 to carol: InvitationReceived from alice
	// 29s: 1 call
	// c1#4 to alice: InviteesAnsweredTimeout bob carol (Timeout)
	// c1#5 to bob: InvitationTimeout (Timeout)
	// c1#6 to carol: InvitationTimeout (Timeout)
	// 30s: 0 calls, 0 timers
}

// A host bounds the events waiting for a slow Sink by refusing new calls
// while Backlog is over its limit, as a SIP server answers 503. Here the
// Sink places a call of its own from inside Emit, so the second invite
// finds the first one's events still waiting.
func ExampleRegistry_Backlog() {
	const limit = 1
	var r *call.Registry
	invite := func(from, to string) {
		if n := r.Backlog(); n > limit {
			fmt.Printf("invite %s -> %s: refused, %d events waiting (503)\n", from, to, n)
			return
		}
		res, err := r.Invite(from, []string{to}, call.InviteConfig{})
		fmt.Println("invite", from, "->", to+":", res.CallID, err)
	}
	ids := 0
	r, _ = call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		NewID: func() string { ids++; return fmt.Sprint("c", ids) },
		Sink: events.SinkFunc(func(e events.Event) {
			if e.Kind == events.InvitationCreated && e.CallID == "c1" {
				invite("bob", "carol")
			}
		}),
	})
	invite("alice", "bob")
	fmt.Println("waiting after the command:", r.Backlog())
	// Output:
	// invite bob -> carol: refused, 2 events waiting (503)
	// invite alice -> bob: c1 <nil>
	// waiting after the command: 0
}
