package call

import (
	"slices"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/internal/core"
	"github.com/callsig/callsig/internal/deadline"
)

// timeState is the Registry's time: the two readings of the clock the
// Registry keeps (D3; the third, an input's own, is inputRun.reading) and
// the one clock timer (D1).
//
// Invariants: present and latestReading never move back; present moves
// only with an input that is journaled or replayed. Once an input has
// finished, outside Recover, the timer is armed whenever something is due,
// for armedFor, no later than the earliest deadline or retryAt, whichever
// is later; with nothing due it may still be armed, and then finds nothing
// due when it fires (see arm).
type timeState struct {
	// present is the reading the latest input that took effect took effect
	// at: no input takes effect before it (D3). Only an input that is
	// journaled moves it (commit, advance), so that a replay of the journal
	// rebuilds it (D1), and a snapshot keeps it (D2).
	present time.Time
	// latestReading is the latest reading of the clock by any input,
	// refused ones included: the timer's delays count from it.
	latestReading time.Time
	// retryAt: after the Journal refused the passing of time, the timer
	// fires again no earlier than this (D1). Zero once time has passed.
	retryAt time.Time
	// recovering is set during Recover: no timer is armed until the last
	// entry is replayed.
	recovering bool

	timer    clock.Timer // made once, on the first arm (nil before)
	armed    bool        // the timer is pending, due at armedFor
	armedFor time.Time
	timerGen uint64 // which timer a firing belongs to, for Clocks whose timers cannot be reset
}

// readClock is the one place the Registry reads its Clock. The reading
// keeps no monotonic part and is in UTC, so that times compare with ==
// and journal exactly.
func (r *Registry) readClock() time.Time { return r.s.clock.Now().Round(0).UTC() }

// note records reading as input in's reading of the clock, and as the
// latest reading if it is.
func (r *Registry) note(in *inputRun, reading time.Time) {
	in.reading = reading
	if reading.After(r.time.latestReading) {
		r.time.latestReading = reading
	}
}

// advance brings the Registry's time to input in's reading (never
// backwards, D3) and returns the time the input takes effect at, first
// processing every deadline due at or before it, one instant at a time:
// calls due at the same instant go in the order they were created. If
// anything is due, that passing of time is journaled first (unless in is
// a replay), as an input of its own (D1); if the Journal refuses it,
// nothing changes, and the timer tries again no earlier than a second
// later. A burst is processed in slices, and the events of each go out
// before the next is made (passSlice), which may release the lock in
// between: another input may then process part of what is due, in the
// same order, as the Time rule has every input do; if such an input took
// effect at a later reading, advance returns that one (D3).
func (r *Registry) advance(in *inputRun, reading time.Time) (time.Time, error) {
	r.note(in, reading)
	now := reading
	if now.Before(r.time.present) {
		now = r.time.present
	}
	_, _, _, at := r.firstDue()
	due := !at.IsZero() && !at.After(now)
	if due {
		if !in.replaying {
			if err := r.journalEntry(Entry{Op: OpTick, At: now}); err != nil {
				r.time.retryAt = reading.Add(time.Second) // D1: everything stays due
				return now, err
			}
		}
		r.time.present = now // the passing of time takes effect, as an input of its own (see commit)
	}
	r.time.retryAt = time.Time{}
	// Nothing due: processDue would find as much, and most inputs find
	// nothing due.
	for due && r.processDue(now) {
		r.passSlice(in)
		// passSlice may have released the lock, and another input taken
		// effect meanwhile at a later reading, with part of what fell due
		// up to it still to process: this input then takes effect at that
		// reading (D3), once that part is processed (the Time rule), as a
		// replay of the journal has it do.
		if now.Before(r.time.present) {
			now = r.time.present
		}
	}
	return now, nil
}

// processDue processes what falls due at or before now, in due order,
// until nothing is left (false) or it has queued a slice's worth of events
// (true).
func (r *Registry) processDue(now time.Time) (more bool) {
	for start := len(r.out.Events); len(r.out.Events)-start < sliceEvents; {
		c, kind, b, at := r.firstDue()
		switch {
		case at.IsZero() || at.After(now):
			return false
		case c != nil:
			c.Expire(at, kind, c.online(), &r.out.Outbox)
			r.update(at, c)
		default:
			// H5: the device missed its heartbeat; G7 applies. Part of the
			// passing of time, journaled above: not an input of its own.
			r.dropDevice(at, b.u, slices.Index(b.u.devices, b.device))
		}
	}
	_, _, _, at := r.firstDue()
	return !at.IsZero() && !at.After(now)
}

// firstDue returns what falls due first, and when: a call and what falls
// due for it, or else a device's heartbeat; both nil, and a zero time,
// when nothing is pending. At one instant calls go first, their deadlines
// and checks before any heartbeat (the Time rule).
func (r *Registry) firstDue() (*callRecord, core.DueKind, *beat, time.Time) {
	c, at, kind := r.calls.due.Min()
	b := r.users.beats.min()
	if c != nil && (b == nil || !at.After(b.at)) {
		return c, core.DueKind(kind), nil, at
	}
	if b != nil {
		return nil, 0, b, b.at
	}
	return nil, 0, nil, time.Time{}
}

// arm keeps one clock timer for the earliest deadline. A timer armed for an
// earlier time than needed is left alone: when it fires it finds nothing due
// and re-arms, which is cheaper than stopping and re-arming on every answer.
// With nothing due, a timer still armed is left alone too, rather than
// stopped here and armed again by the next input that makes something due
// (an answer among users in no other call leaves nothing due): when it
// fires it finds nothing due, processes and journals nothing, and is not
// armed again (fire). The Registry holds that one timer, never one per
// call, and a call that is over holds none (G6); a clock.Manual counts it
// as pending until it fires. The timer is made once and reset after that
// when the Clock's timers are clock.Resetters (those of clock.Real and
// clock.Manual are), which spares an allocation every time a call becomes
// the earliest (B1). now is the time the timer's delay counts from,
// reading the clock's reading of the input that arms it.
func (r *Registry) arm(now, reading time.Time) {
	if r.time.recovering {
		return
	}
	_, _, _, at := r.firstDue()
	if at.IsZero() {
		return
	}
	if !r.time.retryAt.IsZero() && at.Before(r.time.retryAt) { // zero but after a refusal
		at = r.time.retryAt
	}
	if r.time.armed && !r.time.armedFor.After(at) {
		return
	}
	d := deadline.Sub(at, now)
	if d <= 0 && !reading.IsZero() && reading.Before(now) {
		// A deadline before the latest reading, not yet processed: the
		// clock stepped back, and the input under way took effect at a
		// reading before it (D3). Counting from the latest reading would
		// fire at once, find nothing due and arm again, for as long as the
		// clock is behind; count from the clock's reading now instead.
		d = deadline.Sub(at, reading)
	}
	if t, ok := r.time.timer.(clock.Resetter); ok {
		t.Reset(d)
	} else {
		if r.time.armed {
			r.time.timer.Stop()
		}
		r.time.timerGen++
		gen := r.time.timerGen
		r.time.timer = r.s.clock.AfterFunc(d, func() { r.fire(gen) })
	}
	r.time.armed, r.time.armedFor = true, at
}

// fire is the clock timer's callback: an input of its own. gen tells a
// stale firing of a timer that was replaced apart; a reset timer keeps its
// generation, and if it fires late for an arming since replaced, arm
// simply resets it again.
func (r *Registry) fire(gen uint64) {
	defer r.flushLogs()
	var in inputRun
	r.begin(&in)
	defer r.guard(&in)
	if gen == r.time.timerGen {
		r.time.armed = false
	}
	if reading := r.readClock(); reading.Before(r.time.retryAt) {
		r.note(&in, reading) // D1: a timer armed before a refusal waits for the retry
	} else {
		_, _ = r.advance(&in, reading) // a refusal leaves everything due, and sets the retry
	}
	r.finish(&in)
}

// rearm arms the timer again after a panic, as after a refusal (D1): not
// before a second has passed, so that a callback that panics every time
// (a Journal that panics on the passing of time, say) cannot make the timer
// fire without pause. If the Clock panics again here, the next input arms
// it.
func (r *Registry) rearm(in *inputRun) {
	defer func() { _ = recover() }()
	r.time.armed = false
	if later := r.time.latestReading.Add(time.Second); r.time.retryAt.Before(later) {
		r.time.retryAt = later
	}
	r.arm(r.time.latestReading, in.reading)
}
