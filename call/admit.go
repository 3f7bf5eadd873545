package call

import (
	"errors"
)

// admit asks Options.Admit about each invitee (H7), outside the Registry's
// lock: Admit is the host's code. It returns nil when every invitee is
// admitted, or one error per invitee (nil: admitted). Callers ask only
// about an invite that passes core.CheckInvite without the state, so that a
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

// askAdmit asks Options.Admit about the invitees of in (see admit), and
// notes the answers in in, live and as its entry journals them.
func (r *Registry) askAdmit(in *inputRun, inviter string, invitees []string) {
	in.admitErrs = r.admit(inviter, invitees)
	in.entry.Admit = admitAnswers(in.admitErrs)
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

// admitted splits invitees by the Admit answers of input in: the live
// errors when there are some, else the journaled messages (a replay, or a
// restore: the message is kept, not the identity; D2).
func (in *inputRun) admitted(invitees []string) (admitted []string, failed []Failure) {
	answers := in.entry.Admit
	if len(answers) != len(invitees) {
		return invitees, nil
	}
	admitted = make([]string, 0, len(invitees))
	for i, u := range invitees {
		if answers[i] == "" {
			admitted = append(admitted, u)
			continue
		}
		err := errors.New(answers[i])
		if i < len(in.admitErrs) && in.admitErrs[i] != nil {
			err = in.admitErrs[i]
		}
		failed = append(failed, Failure{User: u, Err: err})
	}
	return admitted, failed
}

// admitRefusedAll is the error of an invite whose every invitee
// Options.Admit refused (H7).
func admitRefusedAll(op, callID, user string) error {
	return newErr(op, callID, user, ErrNoInvitees, "Options.Admit refused every invitee")
}
