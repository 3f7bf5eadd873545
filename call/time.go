package call

import (
	"slices"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/internal/core"
)

// advance brings the Registry's time to now (never backwards, D3), first
// processing every deadline due at or before it, one instant at a time:
// calls due at the same instant go in the order they were created. If
// anything is due, that passing of time is journaled first (unless journal
// is false: a replay), as an input of its own (D1); if the Journal refuses
// it, nothing changes. A burst is processed in slices, and the events of
// each go out before the next is made (passSlice), which may release the
// lock in between: another input may then process part of what is due, in
// the same order, as the Time rule has every input do; if such an input
// took effect at a later reading, advance returns that one (D3).
func (r *Registry) advance(now time.Time, journal bool, in *inputRun) (time.Time, error) {
	now = now.Round(0).UTC() // no monotonic reading, one location: times compare with == and journal exactly
	r.read = now
	if now.After(r.seen) {
		r.seen = now
	}
	if now.Before(r.last) {
		now = r.last
	}
	if _, _, _, at := r.firstDue(); !at.IsZero() && !at.After(now) {
		if journal && r.s.journal != nil {
			if err := r.s.journal.Append(Entry{Op: OpTick, At: now}); err != nil {
				return now, err
			}
		}
		r.last = now // the passing of time takes effect, as an input of its own (see commit)
	}
	r.retryAt = time.Time{}
	read := r.read
	for r.processDue(now) {
		r.passSlice(in)
		// passSlice may have released the lock, and another input taken
		// effect meanwhile at a later reading, with part of what fell due
		// up to it still to process: this input then takes effect at that
		// reading (D3), once that part is processed (the Time rule), as a
		// replay of the journal has it do.
		if now.Before(r.last) {
			now = r.last
		}
	}
	r.read = read
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
			c.Expire(at, kind, c.online(), &r.out)
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
	c, at, kind := r.due.Min()
	b := r.beats.min()
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
// With nothing due, the timer is stopped (so Manual.Pending reaches 0). The
// timer is made once and reset after that when the Clock's timers are
// clock.Resetters (those of clock.Real and clock.Manual are), which spares
// an allocation every time a call becomes the earliest (B1). now is the
// time the timer's delay counts from.
func (r *Registry) arm(now time.Time) {
	if r.recovering {
		return
	}
	_, _, _, at := r.firstDue()
	if at.IsZero() {
		if r.armed {
			r.timer.Stop()
			r.armed = false
		}
		return
	}
	if at.Before(r.retryAt) {
		at = r.retryAt
	}
	if r.armed && !r.timerAt.After(at) {
		return
	}
	d := at.Sub(now)
	if d <= 0 && !r.read.IsZero() && r.read.Before(now) {
		// A deadline before the latest reading, not yet processed: the
		// clock stepped back, and the input under way took effect at a
		// reading before it (D3). Counting from the latest reading would
		// fire at once, find nothing due and arm again, for as long as the
		// clock is behind; count from the clock's reading now instead.
		d = at.Sub(r.read)
	}
	if t, ok := r.timer.(clock.Resetter); ok {
		t.Reset(d)
	} else {
		if r.armed {
			r.timer.Stop()
		}
		r.timerGen++
		gen := r.timerGen
		r.timer = r.s.clock.AfterFunc(d, func() { r.fire(gen) })
	}
	r.armed, r.timerAt = true, at
}

// fire is the clock timer's callback: an input of its own. gen tells a
// stale firing of a timer that was replaced apart; a reset timer keeps its
// generation, and if it fires late for an arming since replaced, arm
// simply resets it again.
func (r *Registry) fire(gen uint64) {
	var in inputRun
	r.begin(&in)
	defer r.guard(&in)
	if gen == r.timerGen {
		r.armed = false
	}
	now := r.s.clock.Now()
	if at := now.Round(0).UTC(); at.Before(r.retryAt) { // D1: a timer armed before a refusal waits for the retry
		r.read = at
		if at.After(r.seen) {
			r.seen = at
		}
		r.finish(&in)
		return
	}
	if _, err := r.advance(now, true, &in); err != nil {
		r.retryAt = now.Round(0).UTC().Add(time.Second) // D1: everything stays due; try again later
	}
	r.finish(&in)
}

// rearm arms the timer again after a panic, as after a refusal (D1): not
// before a second has passed, so that a callback that panics every time
// (a Journal that panics on the passing of time, say) cannot make the timer
// fire without pause. If the Clock panics again here, the next input arms
// it.
func (r *Registry) rearm() {
	defer func() { _ = recover() }()
	r.armed = false
	if later := r.seen.Add(time.Second); r.retryAt.Before(later) {
		r.retryAt = later
	}
	r.arm(r.seen)
}
