package call

import (
	"slices"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// GlarePolicy says what happens when two users call each other at once (H3).
type GlarePolicy uint8

// The glare policies.
const (
	// GlareOff (the zero value) opens a second call.
	GlareOff GlarePolicy = iota
	// GlareMerge turns Invite(a, [b]), made while a's phone rings with a call
	// from b that b is in (Accepted), into a accepting that call (Matrix
	// VoIP's glare resolution, SIP's 491 avoided): no second call is
	// opened. Retried with the same
	// host-chosen CallID and invitee while that call is live, such an
	// invite gets its first result again, and rings nobody (H4), until a
	// merges into that call again (after quitting it and being invited
	// again in advanced mode): then only the later merge is retried so,
	// and a retry of the earlier one is a new invite. So a call keeps at
	// most one such result per invitee.
	GlareMerge
)

// glareCall returns the oldest live call in which a is pending and was
// invited by the single invitee b, b being Accepted in it, when
// GlareMerge is on (H3). A b who has left the call (quit it in advanced
// mode) is not calling a any more: a's invite then rings b in a call of
// its own.
func (r *Registry) glareCall(a string, invitees []string) *callRecord {
	if r.s.glare != GlareMerge || len(invitees) != 1 {
		return nil
	}
	b := invitees[0]
	for l := r.callsOf(a); l != nil; l = l.next {
		ms := l.c.Members()
		if i := l.index(); i > 0 && ms[i].State.Pending() && ms[i].Inviter == b {
			if j := l.c.Index(b); j >= 0 && ms[j].State == events.Accepted {
				return l.c
			}
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
func (r *Registry) merge(in *inputRun, c *callRecord, inviter string, cfg *InviteConfig) (InviteResult, error) {
	m := c.Members()[c.Index(inviter)]
	deadline := m.Deadline
	now := in.entry.At
	if !in.entry.HostID {
		in.entry.CallID = c.ID() // the journal names the call merged into
	}
	a, refused := c.CheckAnswer(inviter, true, cfg.ExtendedData, "", r.s.maxDataLen)
	if err := refusal("invite", c.ID(), inviter, refused); err != nil {
		return InviteResult{}, err
	}
	if !a.Noop {
		if err := r.commit(in); err != nil {
			return InviteResult{}, err
		}
		c.ApplyAnswer(now, a, c.online(), &r.out.Outbox)
	}
	keepMerged(c, core.Merged{ID: cfg.CallID, Inviter: inviter, Invitee: m.Inviter, Deadline: deadline}) // H4: a retry gets this result again
	r.update(now, c)
	return InviteResult{CallID: c.ID(), Timeout: c.Timeout(), Deadline: deadline, Merged: true}, nil
}

// keepMerged records m, a merge of m.Inviter into c, for H4 retries in
// place of what the member's earlier merge left, if any; a merge without a
// host-chosen CallID leaves nothing to retry (see core.Merged).
func keepMerged(c *callRecord, m core.Merged) {
	k := -1
	if extras := c.Extras(); extras != nil {
		k = slices.IndexFunc(extras.Merged, func(e core.Merged) bool { return e.Inviter == m.Inviter })
	}
	switch {
	case m.ID != "" && k >= 0:
		c.Extras().Merged[k] = m
	case m.ID != "":
		extras := c.MakeExtras()
		extras.Merged = append(extras.Merged, m)
	case k >= 0:
		extras := c.Extras()
		extras.Merged = slices.Delete(extras.Merged, k, k+1)
	}
}

// retried returns the first result of c if inviter repeats c's invite, with
// the same invitees in the same order, while c is live (H4).
func retried(c *callRecord, inviter string, invitees []string) (InviteResult, bool) {
	extras := c.Extras()
	if extras == nil || extras.Retry == nil || c.Caller() != inviter || !slices.Equal(extras.Retry.Invitees, invitees) {
		return InviteResult{}, false
	}
	return InviteResult{CallID: c.ID(), Timeout: c.Timeout(), Deadline: c.CreatedAt().Add(c.Timeout()), Failed: failures(extras.Retry.Failed)}, true
}

// coreFailures returns fs as the core keeps them (H4's retry record).
func coreFailures(fs []Failure) []core.Failure {
	if fs == nil {
		return nil
	}
	out := make([]core.Failure, len(fs))
	for i, f := range fs {
		out[i] = core.Failure(f)
	}
	return out
}

// failures returns fs, kept by the core, as a result's Failed.
func failures(fs []core.Failure) []Failure {
	if fs == nil {
		return nil
	}
	out := make([]Failure, len(fs))
	for i, f := range fs {
		out[i] = Failure(f)
	}
	return out
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
		extras := l.c.Extras()
		if extras == nil {
			continue
		}
		for _, m := range extras.Merged {
			if m.ID == callID && m.Inviter == inviter && m.Invitee == invitees[0] {
				return InviteResult{CallID: l.c.ID(), Timeout: l.c.Timeout(), Deadline: m.Deadline, Merged: true}, true
			}
		}
	}
	return InviteResult{}, false
}
