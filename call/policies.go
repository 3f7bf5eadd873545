package call

import (
	"errors"
	"slices"

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
	u := r.users[id]
	if r.s.busy != BusyInCall || u == nil {
		return false
	}
	for l := u.head; l != nil; l = l.next {
		if l.c != c && l.c.members[l.i].State == events.Accepted {
			return true
		}
	}
	return false
}

// admit asks Options.Admit about each invitee (H7), outside the Registry's
// lock: Admit is the host's code. It returns nil when every invitee is
// admitted, or one error per invitee (nil: admitted). The list is asked
// about only if it could pass the checks that need no state, so that a
// malformed invite costs the host nothing.
func (r *Registry) admit(inviter string, invitees []string) []error {
	if r.s.admit == nil || !validID(inviter) || len(invitees) == 0 {
		return nil
	}
	for i, u := range invitees {
		if !validID(u) || u == inviter || (len(invitees) <= 16 && contains(invitees[:i], u)) {
			return nil
		}
	}
	if _, dup := firstDuplicate(invitees); dup {
		return nil
	}
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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
	if c.retry == nil || c.caller != inviter || !slices.Equal(c.retry.invitees, invitees) {
		return InviteResult{}, false
	}
	return InviteResult{CallID: c.id, Timeout: c.timeout, Deadline: c.created.Add(c.timeout), Failed: c.retry.failed}, true
}
