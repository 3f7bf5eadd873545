package call_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// deliverAdvanced is a host's Sink for advanced calls: like deliver, it
// sends each event to the online devices of e.To (to e.ToDevice alone, when
// set) or pushes it when e.Offline, and prints one line per event. In
// advanced mode most news comes as UserStateChanged, whose Members say who
// changed and how, so it prints them too.
func deliverAdvanced(e events.Event) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s#%d to %s", e.CallID, e.Seq, e.To)
	if e.ToDevice != "" {
		fmt.Fprintf(&b, "/%s", e.ToDevice)
	}
	if e.Offline {
		b.WriteString(" (offline)")
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
	if e.Kind == events.UserStateChanged || e.Kind == events.InvitationEnded {
		b.WriteString(" [")
		for i, m := range e.Members {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s:%v", m.User, m.State)
		}
		b.WriteString("]")
	}
	if e.Reason != events.ReasonNone {
		fmt.Fprintf(&b, " (%v)", e.Reason)
	}
	fmt.Println(b.String())
}

// An advanced call (RULES.md §4) lives until it is ended: members in it invite
// more users while talking (A2), leave and come back (A3, A4), and every
// member ringing or in the call hears of each change with UserStateChanged
// (A1) instead of the caller alone hearing InvitationAccepted.
func ExampleRegistry_CallingInvite() {
	clk := clock.NewManual(time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC))
	r, _ := call.NewRegistry(call.Options{
		Clock: clk,
		Sink:  events.SinkFunc(deliverAdvanced),
		NewID: func() string { return "c1" },
	})
	for _, u := range []string{"alice", "bob", "carol"} {
		r.Login(u, "phone")
	}

	fmt.Println("-- alice calls bob")
	res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{
		Mode: events.Advanced, Timeout: 30 * time.Second, ExtendedData: "standup",
	})
	_ = r.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"})

	fmt.Println("-- bob invites carol while they talk")
	more, _ := r.CallingInvite("bob", res.CallID, []string{"carol"}, call.CallingInviteConfig{Timeout: 20 * time.Second})
	fmt.Println("carol rings until", more.Deadline.Format(time.TimeOnly))
	_ = r.Accept("carol", res.CallID, call.AcceptConfig{})

	fmt.Println("-- alice leaves, then comes back")
	_ = r.Quit("alice", res.CallID, call.QuitConfig{ExtendedData: "brb"})
	info, _ := r.Join("alice", res.CallID, call.JoinConfig{ExtendedData: "back"})
	for _, m := range info.Members {
		fmt.Printf("  %s %v (invited by %q)\n", m.User, m.State, m.Inviter)
	}

	fmt.Println("-- carol ends the call for everyone")
	_ = r.End("carol", res.CallID, call.EndConfig{ExtendedData: "thanks"})
	_, live := r.Call(res.CallID)
	fmt.Println("live:", live)
	// Output:
	// -- alice calls bob
	// c1#1 to alice: InvitationCreated from alice "standup"
	// c1#2 to bob: InvitationReceived from alice "standup"
	// c1#3 to alice: UserStateChanged from bob/phone [bob:Accepted]
	// c1#4 to bob: UserStateChanged from bob/phone [bob:Accepted]
	// -- bob invites carol while they talk
	// c1#5 to alice: UserStateChanged from bob [carol:Received]
	// c1#6 to bob: UserStateChanged from bob [carol:Received]
	// c1#7 to carol: InvitationReceived from bob "standup"
	// carol rings until 09:00:20
	// c1#8 to alice: UserStateChanged from carol [carol:Accepted]
	// c1#9 to bob: UserStateChanged from carol [carol:Accepted]
	// c1#10 to carol: UserStateChanged from carol [carol:Accepted]
	// -- alice leaves, then comes back
	// c1#11 to alice: UserStateChanged from alice "brb" [alice:Quit]
	// c1#12 to bob: UserStateChanged from alice "brb" [alice:Quit]
	// c1#13 to carol: UserStateChanged from alice "brb" [alice:Quit]
	// c1#14 to alice: UserStateChanged from alice "back" [alice:Accepted]
	// c1#15 to bob: UserStateChanged from alice "back" [alice:Accepted]
	// c1#16 to carol: UserStateChanged from alice "back" [alice:Accepted]
	//   alice Accepted (invited by "")
	//   bob Accepted (invited by "alice")
	//   carol Accepted (invited by "bob")
	// -- carol ends the call for everyone
	// c1#17 to alice: InvitationEnded from carol "thanks" [alice:Accepted bob:Accepted carol:Accepted] (Ended)
	// c1#18 to bob: InvitationEnded from carol "thanks" [alice:Accepted bob:Accepted carol:Accepted] (Ended)
	// c1#19 to carol: InvitationEnded from carol "thanks" [alice:Accepted bob:Accepted carol:Accepted] (Ended)
	// live: false
}

// End ends an advanced call while someone still rings (A5): everyone
// ringing or in the call gets InvitationEnded, the invitees still ringing
// end as Cancelled, and no timeout fires afterwards.
func ExampleRegistry_End() {
	clk := clock.NewManual(time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC))
	r, _ := call.NewRegistry(call.Options{
		Clock: clk,
		Sink:  events.SinkFunc(deliverAdvanced),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	r.Login("bob", "phone")
	res, _ := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced, Timeout: time.Minute})
	_ = r.Accept("bob", res.CallID, call.AcceptConfig{})

	err := r.End("bob", res.CallID, call.EndConfig{Device: "phone"})
	fmt.Println("end:", err, "calls:", r.Len())

	clk.Advance(time.Hour) // carol's deadline passes in silence
	fmt.Println("timers:", clk.Pending())
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob: InvitationReceived from alice
	// c1#3 to carol (offline): InvitationReceived from alice
	// c1#4 to alice: UserStateChanged from bob [bob:Accepted]
	// c1#5 to bob: UserStateChanged from bob [bob:Accepted]
	// c1#6 to carol (offline): UserStateChanged from bob [bob:Accepted]
	// c1#7 to alice: InvitationEnded from bob/phone [alice:Accepted bob:Accepted carol:Cancelled] (Ended)
	// c1#8 to bob: InvitationEnded from bob/phone [alice:Accepted bob:Accepted carol:Cancelled] (Ended)
	// c1#9 to carol (offline): InvitationEnded from bob/phone [alice:Accepted bob:Accepted carol:Cancelled] (Ended)
	// end: <nil> calls: 0
	// timers: 0
}

// The last member to quit empties the call, which ends by itself (A4):
// InvitationEnded with Reason Empty goes to those who were ringing or in
// the call just before.
func ExampleRegistry_Quit() {
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)),
		Sink:  events.SinkFunc(deliverAdvanced),
		NewID: func() string { return "c1" },
	})
	r.Login("alice", "pc")
	r.Login("bob", "phone")
	res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced})
	_ = r.Accept("bob", res.CallID, call.AcceptConfig{})

	_ = r.Quit("alice", res.CallID, call.QuitConfig{})
	_ = r.Quit("bob", res.CallID, call.QuitConfig{ExtendedData: "bye"})
	fmt.Println("calls:", r.Len())
	// Output:
	// c1#1 to alice: InvitationCreated from alice
	// c1#2 to bob: InvitationReceived from alice
	// c1#3 to alice: UserStateChanged from bob [bob:Accepted]
	// c1#4 to bob: UserStateChanged from bob [bob:Accepted]
	// c1#5 to alice: UserStateChanged from alice [alice:Quit]
	// c1#6 to bob: UserStateChanged from alice [alice:Quit]
	// c1#7 to bob: UserStateChanged from bob "bye" [bob:Quit]
	// c1#8 to bob: InvitationEnded [alice:Quit bob:Quit] (Empty)
	// calls: 0
}
