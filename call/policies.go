package call

import (
	"errors"
	"slices"
	"time"

	"github.com/callsig/callsig/events"
)

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
func (r *Registry) busy(id string, c *callState) bool {
	if r.s.busy != BusyInCall {
		return false
	}
	for l := r.callsOf(id); l != nil; l = l.next {
		if l.c != c && l.c.members()[l.index()].State == events.Accepted {
			return true
		}
	}
	return false
}

// admit asks Options.Admit about each invitee (H7), outside the Registry's
// lock: Admit is the host's code. It returns nil when every invitee is
// admitted, or one error per invitee (nil: admitted). Callers ask only
// about an invite that passes checkInvite without the state, so that a
// malformed invite costs the host nothing.
func (r *Registry) admit(inviter string, invitees []string) []error {
	var errs []error
	for i, u := range invitees {
		if err := r.s.admit(inviter, u); err != nil {
			if errs == nil {
				errs = make([]error, len(invitees))
			}
			errs[i] = err
		}
	}
	return errs
}

// admitAnswers turns Admit's errors into the strings an Entry journals.
func admitAnswers(errs []error) []string {
	if errs == nil {
		return nil
	}
	out := make([]string, len(errs))
	for i, err := range errs {
		if err != nil {
			out[i] = err.Error()
			if out[i] == "" {
				out[i] = "refused"
			}
		}
	}
	return out
}

// admitted splits invitees by the Admit answers of the input under way: the
// live errors when there are some, else the journaled messages (a replay, or
// a restore: the message is kept, not the identity; D2).
func (r *Registry) admitted(invitees []string) (in []string, failed []Failure) {
	answers := r.entry.Admit
	if len(answers) != len(invitees) {
		return invitees, nil
	}
	in = make([]string, 0, len(invitees))
	for i, u := range invitees {
		if answers[i] == "" {
			in = append(in, u)
			continue
		}
		err := errors.New(answers[i])
		if i < len(r.admitErrs) && r.admitErrs[i] != nil {
			err = r.admitErrs[i]
		}
		failed = append(failed, Failure{User: u, Err: err})
	}
	return in, failed
}

// retry is what H4 needs to answer an invite repeated with the same
// host-chosen CallID: the invitees as first asked, and who was refused.
type retry struct {
	invitees []string
	failed   []Failure
}

// retried returns the first result of c if inviter repeats c's invite, with
// the same invitees in the same order, while c is live (H4).
func (c *callState) retried(inviter string, invitees []string) (InviteResult, bool) {
	if c.x == nil || c.x.retry == nil || c.callerID() != inviter || !slices.Equal(c.x.retry.invitees, invitees) {
		return InviteResult{}, false
	}
	return InviteResult{CallID: c.id, Timeout: c.timeout, Deadline: c.createdAt().Add(c.timeout), Failed: c.x.retry.failed}, true
}

// mergedRetry is what H4 needs to answer again an invite with a
// host-chosen CallID that H3 merged into a live call, which opened no call
// of that ID: the ID, who invited whom, and the deadline the merged
// invitation had (the first result's).
//
// A call keeps one for each member's latest merge only, if that merge had
// a host-chosen CallID: a member merges into a call again only after it
// quit and was invited again, so it has acted on the earlier result, and a
// retry of the earlier invite is no longer to be expected.
// An advanced call that loops quit, invite again, merge thus keeps at
// most one per invitee (MaxInvitees), however long it lives.
type mergedRetry struct {
	id, inviter, invitee string
	deadline             time.Time
}

// retriedMerge returns the first result of an invite by inviter of the one
// invitee with host-chosen callID that H3 merged into one of inviter's live
// calls, the oldest first, if it is repeated while that call is live (H4):
// a retry must not ring the other user again in a call of its own.
func (r *Registry) retriedMerge(inviter, callID string, invitees []string) (InviteResult, bool) {
	if len(invitees) != 1 {
		return InviteResult{}, false
	}
	for l := r.callsOf(inviter); l != nil; l = l.next {
		if l.c.x == nil {
			continue
		}
		for _, m := range l.c.x.merged {
			if m.id == callID && m.inviter == inviter && m.invitee == invitees[0] {
				return InviteResult{CallID: l.c.id, Timeout: l.c.timeout, Deadline: m.deadline, Merged: true}, true
			}
		}
	}
	return InviteResult{}, false
}

// GlarePolicy says what happens when two users call each other at once (H3).
type GlarePolicy uint8

// The glare policies.
const (
	// GlareOff (the zero value) opens a second call.
	GlareOff GlarePolicy = iota
	// GlareMerge turns Invite(a, [b]), made while a's phone rings with a call
	// from b, into a accepting that call (Matrix VoIP's glare resolution,
	// SIP's 491 avoided): no second call is opened. Retried with the same
	// host-chosen CallID and invitee while that call is live, such an
	// invite gets its first result again, and rings nobody (H4), until a
	// merges into that call again (after quitting it and being invited
	// again in advanced mode): then only the later merge is retried so,
	// and a retry of the earlier one is a new invite. So a call keeps at
	// most one such result per invitee.
	GlareMerge
)

// errAskAdmit is internal: the invite must be run again, Admit asked.
var errAskAdmit = errors.New("callsig: internal: ask Admit")

// glareCall returns the oldest live call in which a is pending and was
// invited by the single invitee b, when GlareMerge is on (H3).
func (r *Registry) glareCall(a string, invitees []string) *callState {
	if r.s.glare != GlareMerge || len(invitees) != 1 {
		return nil
	}
	for l := r.callsOf(a); l != nil; l = l.next {
		if i := l.index(); i > 0 && l.c.members()[i].State.Pending() && l.c.members()[i].Inviter == invitees[0] {
			return l.c
		}
	}
	return nil
}

// mayMerge peeks whether an invite would merge now (H3).
func (r *Registry) mayMerge(a string, invitees []string) bool {
	if r.s.glare != GlareMerge || len(invitees) != 1 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.glareCall(a, invitees) != nil
}

// merge makes inviter accept c instead of calling its inviter back (H3):
// the invite's extended data is the accept's; the result names c, Merged,
// with the deadline inviter's invitation had.
func (r *Registry) merge(now time.Time, c *callState, inviter string, cfg *InviteConfig) (InviteResult, error) {
	m := c.members()[c.index(inviter)]
	deadline := m.Deadline
	if !r.entry.HostID {
		r.entry.CallID = c.id // the journal names the call merged into
	}
	if err := c.answer(now, "invite", inviter, cmdAccept, cfg.ExtendedData, "", r.s.maxDataLen, r, &r.out); err != nil {
		return InviteResult{}, err
	}
	c.keepMerged(mergedRetry{id: cfg.CallID, inviter: inviter, invitee: m.Inviter, deadline: deadline}) // H4: a retry gets this result again
	r.update(c)
	return InviteResult{CallID: c.id, Timeout: c.timeout, Deadline: deadline, Merged: true}, nil
}

// keepMerged records m, a merge of m.inviter into c, for H4 retries in
// place of what the member's earlier merge left, if any; a merge without a
// host-chosen CallID leaves nothing to retry (see mergedRetry).
func (c *callState) keepMerged(m mergedRetry) {
	k := -1
	if c.x != nil {
		k = slices.IndexFunc(c.x.merged, func(e mergedRetry) bool { return e.inviter == m.inviter })
	}
	switch {
	case m.id != "" && k >= 0:
		c.x.merged[k] = m
	case m.id != "":
		x := c.extras()
		x.merged = append(x.merged, m)
	case k >= 0:
		c.x.merged = slices.Delete(c.x.merged, k, k+1)
	}
}
