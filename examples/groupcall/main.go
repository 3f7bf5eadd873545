// Command groupcall plays a group call on a manual clock and prints, as a
// narrated timeline, every event the way a host would deliver it: live to
// every online device of the recipient, by push when the recipient is
// offline, or to one device only when a device has just logged in.
//
//	go run ./examples/groupcall
package main

import (
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

func main() {
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	clk := clock.NewManual(start)
	host := &host{start: start}
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: host})
	if err != nil {
		log.Fatal(err)
	}

	say := func(format string, a ...any) {
		fmt.Printf("\n%s  %s\n", stamp(start, clk.Now()), fmt.Sprintf(format, a...))
	}

	say("alice, bob and carol are online; dave is not.")
	check(reg.Login("alice", "laptop"))
	check(reg.Login("bob", "phone"))
	check(reg.Login("carol", "web"))

	say("alice calls bob, carol and dave, ringing for 30s.")
	res, err := reg.Invite("alice", []string{"bob", "carol", "dave"}, call.InviteConfig{
		Timeout:      30 * time.Second,
		ExtendedData: `{"media":"video"}`,
		Push:         &events.Push{Title: "alice", Content: "Incoming video call"},
	})
	if err != nil {
		log.Fatal(err)
	}
	host.callID = res.CallID

	clk.Advance(4 * time.Second)
	say("bob picks up on his phone.")
	check(reg.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"}))

	clk.Advance(3 * time.Second)
	say("carol declines: she is in a meeting.")
	check(reg.Reject("carol", res.CallID, call.RejectConfig{ExtendedData: "in a meeting", Device: "web"}))

	clk.Advance(5 * time.Second)
	say("dave opens the app on his phone: the invitation rings there, with its original deadline.")
	check(reg.Login("dave", "phone"))

	clk.Advance(2 * time.Second)
	say("dave's tablet comes online too, and rings as well.")
	check(reg.Login("dave", "tablet"))

	say("dave answers neither; the clock runs past the deadline.")
	clk.Advance(20 * time.Second)

	_, live := reg.Call(res.CallID)
	fmt.Printf("\nThe call is over: live=%v, calls=%d, timers=%d.\n", live, reg.Len(), clk.Pending())
}

// host is a Sink that delivers events the way a server would.
type host struct {
	start  time.Time
	callID string
}

func (h *host) Emit(e events.Event) {
	var how string
	switch {
	case e.Offline:
		how = fmt.Sprintf("push to %s", e.To)
		if e.Push != nil {
			how += fmt.Sprintf(" (%q: %q)", e.Push.Title, e.Push.Content)
		}
	case e.ToDevice != "":
		how = fmt.Sprintf("to %s's %s only", e.To, e.ToDevice)
	default:
		how = fmt.Sprintf("live to %s", e.To)
	}
	fmt.Printf("%s    #%d %-24s %s%s\n", stamp(h.start, e.At), e.Seq, e.Kind, how, details(e))
}

// details lists the fields of e a reader needs to follow the story.
func details(e events.Event) string {
	var b strings.Builder
	if e.From != "" && e.From != e.To {
		fmt.Fprintf(&b, " from %s", e.From)
	}
	if e.Device != "" {
		fmt.Fprintf(&b, " (on %s)", e.Device)
	}
	if e.Data != "" {
		fmt.Fprintf(&b, " data=%s", e.Data)
	}
	if !e.Deadline.IsZero() {
		fmt.Fprintf(&b, " rings until %s", e.Deadline.Format("15:04:05"))
	}
	if e.Reason != events.ReasonNone {
		fmt.Fprintf(&b, " reason=%s", e.Reason)
	}
	if e.Kind == events.InviteesAnsweredTimeout {
		var who []string
		for _, m := range e.Members {
			who = append(who, m.User)
		}
		fmt.Fprintf(&b, " [%s]", strings.Join(who, ", "))
	}
	return b.String()
}

func stamp(start, t time.Time) string {
	return fmt.Sprintf("[+%02ds]", int(t.Sub(start)/time.Second))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
