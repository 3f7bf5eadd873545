package calltest

import (
	"fmt"
	"slices"

	"github.com/callsig/callsig/events"
)

// Checker checks invariants over a stream of delivered events, without a
// model: feed it every event a server delivers, in delivery order, with
// [Checker.Check], and call [Checker.Done] once the stream is complete. It
// checks that
//
//   - the Seq of a call's events is 1, 2, 3, … in delivery order (G9), and
//     the first is InvitationCreated to the caller (G2);
//   - every event goes to a member of its call (G10), and names the call's
//     caller and mode;
//   - each invitee ends exactly once: one terminal event per call
//     (InvitationAccepted or InvitationRejected naming it, or
//     InvitationCancelled or InvitationTimeout to it), after which it is
//     rung no more (G3–G5, G7); in general mode an answer's event to the
//     caller is followed at once by UserStateChanged to the invitee (G3);
//   - a general call has no event once every invitee has ended (G6), and a
//     call ID is used again only once its call is over (G11);
//   - an event for one device only (ToDevice) is not Offline (G8).
//
// The rules on ending hold for general calls. Of an advanced call (RULES.md §4),
// whose members answer, join, quit and are invited again, so that nobody
// ends once and for all, the Checker checks Seq, caller, mode and
// membership (a member joins the call with its first InvitationReceived,
// A2, or, busy, with the UserStateChanged that tells of it, H2), and besides that it checks that
//
//   - no InvitationAccepted, InvitationRejected or InviteesAnsweredTimeout
//     is sent (A1: the members get UserStateChanged instead);
//   - InvitationEnded has Reason Ended, From the member who ended the call
//     (A5), or Reason Empty and no From (A4), lists every member, and is
//     the call's last kind of event.
//
// An advanced call may also be over with no InvitationEnded (G7: each
// pending invitee got InvitationCancelled), so the Checker does not hold
// its ID to G11.
//
// Done checks that every general call is over, so drive the clock past
// every deadline before calling it. The zero Checker is ready to use; it is
// not safe for concurrent use.
type Checker struct {
	calls map[string]*checkedCall
	n     int // events checked
}

// checkedCall is what the Checker knows of one call.
type checkedCall struct {
	caller  string
	mode    events.Mode
	seq     uint64
	members []string                // the caller first, then the invitees
	ended   map[string]events.Event // invitee → its terminal event
	echo    string                  // general mode: the invitee that just answered, owed its UserStateChanged (G3)
	over    bool
}

// Check checks one delivered event against those before it and returns the
// first invariant it breaks, or nil.
func (c *Checker) Check(e events.Event) error {
	c.n++
	if c.calls == nil {
		c.calls = map[string]*checkedCall{}
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("calltest: event %d (%s): %s", c.n, FormatEvent(e), fmt.Sprintf(format, a...))
	}
	if e.CallID == "" {
		return fail("no CallID")
	}
	k := c.calls[e.CallID]
	if e.Seq == 1 {
		if k != nil && !k.over && k.mode == events.General {
			return fail("Seq 1 again while call %q is live (G9, G11)", e.CallID)
		}
		if e.Kind != events.InvitationCreated || e.To != e.Caller || e.From != e.Caller {
			return fail("the first event of a call must be InvitationCreated to and from the caller (G2)")
		}
		if len(e.Members) < 2 || e.Members[0].User != e.Caller || e.Members[0].State != events.Accepted {
			return fail("InvitationCreated must list the caller, Accepted, then the invitees (G2)")
		}
		k = &checkedCall{caller: e.Caller, mode: e.Mode, ended: map[string]events.Event{}}
		for _, m := range e.Members {
			if slices.Contains(k.members, m.User) {
				return fail("member %q listed twice", m.User)
			}
			k.members = append(k.members, m.User)
		}
		c.calls[e.CallID] = k
	} else {
		switch {
		case k == nil:
			return fail("first event of the call has Seq %d, want 1 (G9)", e.Seq)
		case k.over && (k.mode == events.General || e.Kind != events.InvitationEnded):
			// (An advanced call ends with InvitationEnded to each member, A5.)
			return fail("event after the call was over (G6)")
		case e.Seq != k.seq+1:
			return fail("Seq %d after %d (G9)", e.Seq, k.seq)
		case e.Caller != k.caller:
			return fail("Caller %q, the call's is %q", e.Caller, k.caller)
		case e.Mode != k.mode:
			return fail("Mode %v, the call's is %v", e.Mode, k.mode)
		}
	}
	k.seq = e.Seq
	if k.echo != "" {
		// G3: the answer's second event is UserStateChanged to the invitee
		// about itself, right after the caller's.
		if e.Kind != events.UserStateChanged || e.To != k.echo || len(e.Members) != 1 || e.Members[0].User != k.echo {
			return fail("want UserStateChanged to %q about itself right after its answer (G3)", k.echo)
		}
		k.echo = ""
		k.over = len(k.ended) == len(k.members)-1
		return nil
	}

	// Advanced mode rings new members (A2); general mode's are fixed at G2.
	// H2: a CallingInvite's busy invitee becomes a member without a ring:
	// the members hear of it with UserStateChanged, Reason Busy.
	if k.mode == events.Advanced && (e.Kind == events.InvitationReceived ||
		e.Kind == events.UserStateChanged && e.Reason == events.ReasonBusy) {
		for _, m := range e.Members {
			if !slices.Contains(k.members, m.User) {
				k.members = append(k.members, m.User)
			}
		}
	}
	if !slices.Contains(k.members, e.To) {
		return fail("%q is no member of the call (G10)", e.To)
	}
	if e.ToDevice != "" && e.Offline {
		return fail("an event for one device (ToDevice) must not be Offline (G8)")
	}

	if k.mode != events.General {
		// Advanced calls rename these kinds' roles and ring members again
		// (A1, A2): Seq and membership are checked, and the kinds A1 and
		// A4–A5 name.
		switch e.Kind {
		case events.InvitationAccepted, events.InvitationRejected, events.InviteesAnsweredTimeout:
			return fail("no %v in advanced mode: the members get UserStateChanged (A1)", e.Kind)
		case events.InvitationEnded:
			switch {
			case e.Reason == events.ReasonEnded && e.From == "":
				return fail("InvitationEnded with Reason Ended must name who ended the call (A5)")
			case e.Reason == events.ReasonEmpty && e.From != "":
				return fail("InvitationEnded with Reason Empty has no From: the call ended by itself (A4)")
			case e.Reason != events.ReasonEnded && e.Reason != events.ReasonEmpty:
				return fail("InvitationEnded with Reason %v, want Ended or Empty (A4, A5)", e.Reason)
			case len(e.Members) != len(k.members):
				return fail("InvitationEnded lists %d members, the call has %d", len(e.Members), len(k.members))
			}
			k.over = true
		}
		return nil
	}
	var subject string // the invitee this event ends, if any
	switch e.Kind {
	case events.InvitationAccepted, events.InvitationRejected:
		if len(e.Members) != 1 {
			return fail("%v must name exactly one member", e.Kind)
		}
		subject = e.Members[0].User
	case events.InvitationCancelled, events.InvitationTimeout:
		if len(e.Members) != 1 || e.Members[0].User != e.To {
			return fail("%v must name exactly its recipient", e.Kind)
		}
		subject = e.To
	case events.InvitationEnded:
		return fail("no InvitationEnded in general mode (G6: the call is over once nobody is pending)")
	case events.InvitationReceived:
		if prev, ok := k.ended[e.To]; ok {
			return fail("%q rung after it ended with %v #%d", e.To, prev.Kind, prev.Seq)
		}
	}
	if subject != "" {
		if i := slices.Index(k.members, subject); i <= 0 {
			return fail("%v names %q, who is no invitee of the call", e.Kind, subject)
		}
		if prev, ok := k.ended[subject]; ok {
			return fail("%q ended twice: %v #%d, now %v (each invitee ends once)", subject, prev.Kind, prev.Seq, e.Kind)
		}
		k.ended[subject] = e
		if e.Kind == events.InvitationAccepted || e.Kind == events.InvitationRejected && e.Reason != events.ReasonBusy {
			k.echo = subject
		}
		k.over = k.echo == "" && len(k.ended) == len(k.members)-1
	}
	return nil
}

// CheckAll checks each event in turn and returns the first error.
func (c *Checker) CheckAll(es []events.Event) error {
	for _, e := range es {
		if err := c.Check(e); err != nil {
			return err
		}
	}
	return nil
}

// Live returns the IDs of the calls the stream has not ended yet, sorted.
func (c *Checker) Live() []string {
	var ids []string
	for id, k := range c.calls {
		if !k.over {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Done checks the end of the stream: every general call it began is over,
// each of its invitees having ended exactly once. It returns the first
// call that is not, or nil. (An advanced call lives until it is ended, so
// Done does not ask it to be over.)
func (c *Checker) Done() error {
	var live []string
	for _, id := range c.Live() {
		if c.calls[id].mode == events.General {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return nil
	}
	k := c.calls[live[0]]
	var open []string
	for _, u := range k.members[1:] {
		if _, ok := k.ended[u]; !ok {
			open = append(open, u)
		}
	}
	if len(open) == 0 && k.echo != "" {
		return fmt.Errorf("calltest: %d calls are not over; call %q (Seq %d): no UserStateChanged to %q after its answer (G3)", len(live), live[0], k.seq, k.echo)
	}
	return fmt.Errorf("calltest: %d calls are not over; call %q (Seq %d): invitees %q never ended", len(live), live[0], k.seq, open)
}
