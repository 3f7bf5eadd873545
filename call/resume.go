package call

import "time"

// Resuming after a downtime (Options.ResumeHeartbeats, OpResume): the
// heartbeat deadlines of the devices online when a host went down
// restart from the instant it recovers, rather than fall due at once.
// Nothing could heartbeat while the host was down, so a deadline that
// passed meanwhile says nothing of the device; logging it out at start
// would cancel its user's unanswered calls (G7) before it could reconnect.
//
// The restart is an input of its own, journaled (D1), so that a later
// recovery, which replays it, restarts the same deadlines at the same
// instant: a replay of the heartbeats and commands that followed it then
// finds every device online as the original did. It takes effect before
// anything that fell due up to its reading is processed, and processes
// nothing itself: its entry restarting the heartbeats first is what keeps
// them from falling due, and the deadlines of calls that passed fall due
// at the next passing of time, at once, as without it (RULES.md §8,
// choice-resume).

// resumeAt is where a resume input takes effect: its reading, or the
// Registry's present if that is later (D3). Unlike advance it processes
// nothing (see above).
func (r *Registry) resumeAt(in *inputRun, reading time.Time) time.Time {
	r.note(in, reading)
	if reading.Before(r.time.present) {
		return r.time.present
	}
	return reading
}

// resume restarts the heartbeat deadline of every online device from the
// input's reading, as if each had sent a heartbeat then (H5), keeping
// their order among last heartbeats, so that devices whose deadlines now
// coincide lapse in the order they last heartbeated (the Time rule).
// Without HeartbeatTimeout, or with no device online, it changes nothing
// and is not journaled.
func (r *Registry) resume(in *inputRun) error {
	if r.s.heartbeat <= 0 || len(r.users.beats) == 0 {
		return nil
	}
	if err := r.commit(in); err != nil {
		return err // D1: nothing restarted
	}
	at := in.entry.At.Add(r.s.heartbeat)
	h := r.users.beats
	for _, b := range h {
		b.at = at
	}
	for i := len(h)/2 - 1; i >= 0; i-- { // every deadline changed: the heap is made again
		h.down(i)
	}
	return nil
}

// resumeLocked is Recover's resume, a live input made under the lock
// once the journal is replayed and before the timer is armed: it
// journals an OpResume entry at reading (D3 applied) and restarts the
// heartbeats.
func (r *Registry) resumeLocked(reading time.Time) error {
	in := inputRun{entry: Entry{Op: OpResume}, admitAsked: true}
	in.entry.At = r.resumeAt(&in, reading)
	return r.resume(&in)
}
