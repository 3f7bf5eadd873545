package call

import "github.com/callsig/callsig/events"

// BusyPolicy says what an invite does to a user already in a call (H2).
type BusyPolicy uint8

// The busy policies.
const (
	// BusyOff (the zero value) rings a user whatever other calls it is in.
	BusyOff BusyPolicy = iota
	// BusyInCall rejects at once, with events.ReasonBusy, an invitee that is
	// Accepted in another live call (TUICallKit's line-busy): the caller of
	// a call still ringing, or an invitee that accepted a call in which
	// others still ring, or an Accepted member of a live advanced call. The
	// invitee is not rung.
	//
	// Busy sees live calls only (RULES.md §8, What Busy sees). A general
	// call is over, and forgotten, as soon as no invitee is pending (G6):
	// once everyone answered, its caller and whoever accepted are no longer
	// busy to the Registry, though their media session may just be
	// starting. An advanced call lives until it is ended, so its Accepted
	// members stay busy until they Quit or it ends. A host whose users talk
	// after a general call, and who wants them busy, either makes its calls
	// advanced and Ends them when the media session ends, or answers from
	// its own knowledge of media sessions in Options.Admit, which then lists
	// such an invitee in InviteResult.Failed with the host's error and does
	// not ring it (H7).
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
