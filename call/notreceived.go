package call

import (
	"time"

	"github.com/callsig/callsig/events"
)

// H6: with Options.NotReceivedAfter set, an invitee still Inviting that long
// after it was invited becomes NotYetReceived (ZIM's
// enableNotReceivedCheck), and the caller — in advanced mode every member
// pending or Accepted other than that invitee — gets UserStateChanged about
// it. If it then logs in before its deadline, G8 applies and the same
// members learn it is now Received.
//
// Where the rules leave a choice, callsig decides (and calltest.Model follows):
//   - "The same members" are those the rule names at the login, not those
//     told at the check: a member that has since rejected or quit is not
//     told of the receipt.
//   - G8 replays a NotYetReceived invitation too, like an Inviting one,
//     and the news that it is Received follows that replay, with From and
//     Device the invitee's, and no Data or Reason.
//   - Each invitee found not received is its own UserStateChanged; several
//     found at one instant go in member order, all recipients of one
//     before the next (unlike G5's one InviteesAnsweredTimeout for all).
//   - For an invitee rung again by CallingInvite, the time counts from
//     that CallingInvite.
//   - In an advanced call in which nobody else is pending or Accepted, the
//     check changes the invitee's state and nobody is told.

// setCheck schedules member i's not-received check for at (H6 on).
func (c *callState) setCheck(i int, at time.Time) {
	x := c.extras()
	for len(x.checks) <= i {
		x.checks = append(x.checks, time.Time{})
	}
	x.checks[i] = at
}

// notReceived runs the not-received checks due at now.
func (c *callState) notReceived(now time.Time, out *outbox) {
	checks := c.checks()
	for i := 1; i < len(c.members()) && i < len(checks); i++ {
		if checks[i].IsZero() || checks[i].After(now) || c.members()[i].State != events.Inviting {
			continue
		}
		c.move(i, cmdNotReceived)
		checks[i] = time.Time{}
		c.tellReceipt(now, i, events.Event{}, out)
	}
}

// tellReceipt sends UserStateChanged about member i, built on e, to the
// caller (general mode) or to every member pending or Accepted other than i
// (advanced mode).
func (c *callState) tellReceipt(now time.Time, i int, e events.Event, out *outbox) {
	e.Kind, e.At = events.UserStateChanged, now
	e.Members = out.clone(c.members()[i : i+1]) // the member changes again: a copy
	if c.mode == events.General {
		e.To, e.Offline = c.callerID(), !c.online(0)
		c.emit(out, e)
		return
	}
	var skip memberSet
	skip.add(i)
	c.tell(now, e, -1, skip, out)
}
