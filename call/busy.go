package call

import "github.com/callsig/callsig/events"

// BusyPolicy says what an invite does to a user already in a call (H2).
type BusyPolicy uint8

// The busy policies.
const (
	// BusyOff (the zero value) rings a user whatever other calls it is in.
	BusyOff BusyPolicy = iota
	// BusyInCall rejects at once, with events.ReasonBusy, an invitee that is
	// Accepted in another live call — talking, or placing a call of its own
	// (TUICallKit's line-busy). The invitee is not rung.
	BusyInCall
)

// busy reports whether id, invited into c, is to be rejected at once: with
// Options.Busy = BusyInCall, whether it is Accepted in a live call other
// than c (H2).
func (r *Registry) busy(id string, c *callRecord) bool {
	if r.s.busy != BusyInCall {
		return false
	}
	for l := r.callsOf(id); l != nil; l = l.next {
		if l.c != c && l.c.Members()[l.index()].State == events.Accepted {
			return true
		}
	}
	return false
}
