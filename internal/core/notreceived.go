package core

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
func (c *Call) setCheck(i int, at time.Time) {
	x := c.MakeExtras()
	for len(x.Checks) <= i {
		x.Checks = append(x.Checks, time.Time{})
	}
	x.Checks[i] = at
}

// notReceived runs the not-received checks due at now.
func (c *Call) notReceived(now time.Time, online Set, out *Outbox) {
	checks := c.checks()
	for i := 1; i < len(c.Members()) && i < len(checks); i++ {
		if checks[i].IsZero() || checks[i].After(now) || c.Members()[i].State != events.Inviting {
			continue
		}
		c.move(i, cmdNotReceived)
		checks[i] = time.Time{}
		c.tellReceipt(now, i, events.Event{}, online, out)
	}
}

// tellReceipt sends UserStateChanged about member i, built on e, to the
// caller (general mode) or to every member pending or Accepted other than i
// (advanced mode).
func (c *Call) tellReceipt(now time.Time, i int, e events.Event, online Set, out *Outbox) {
	e.Kind, e.At = events.UserStateChanged, now
	e.Members = out.clone(c.Members()[i : i+1]) // the member changes again: a copy
	if c.mode == events.General {
		e.To, e.Offline = c.Caller(), !online.Has(0)
		c.emit(out, e)
		return
	}
	var skip Set
	skip.Add(i)
	c.tellMembers(now, e, -1, skip, online, out)
}
