package clock

import "time"

// Clock is a source of the current time and a scheduler of callbacks.
//
// Code that needs time should accept a Clock rather than call the time
// package directly, so that tests and simulations can substitute a [Manual]
// clock for [Real].
//
// A callsig Registry reads its Clock once per input (a command, or its timer
// firing) and keeps the latest reading at which an input took effect. A
// custom clock that jumps does this to it:
//
//   - A reading earlier than that last one counts as the last one: time
//     never runs backwards inside a Registry (D3).
//   - A jump forward to T makes everything due at or before T fall due at
//     once, at the Registry's next input: each deadline is processed before
//     that input, in due order, its events carrying the deadline itself as
//     their time (the Time rule). The input takes effect at T and counts its
//     deadlines from T.
//   - After a jump back, until the clock reads past the last reading again,
//     every input takes effect at the last reading and nothing falls due: a
//     call made meanwhile counts its deadlines from the last reading, so it
//     rings longer, by as much as the clock was behind when it was made.
//
// The Registry's timer is an AfterFunc: after a jump forward it runs when
// the Clock runs it ([Manual] does, inside the Set or Advance that jumps).
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc arranges for f to be called once the clock has moved d past
	// the current time, and returns a Timer that can cancel the call.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call scheduled by [Clock.AfterFunc].
type Timer interface {
	// Stop prevents the timer's callback from running. It returns true if
	// the call stopped the timer and false if the timer had already run or
	// had already been stopped.
	Stop() bool
}

// Resetter is a [Timer] that can be rescheduled without making a new one,
// as [time.Timer.Reset] does: Reset makes the timer run its callback d
// from now, whether it was pending, had run or was stopped, and reports
// whether it was pending. The timers of [Real] (*time.Timer) and [Manual]
// are Resetters. Code that keeps one timer for a moving deadline, as
// callsig's Registry does, resets it when it can and falls back to Stop and
// AfterFunc when a Clock's timers cannot.
type Resetter interface {
	Timer
	Reset(d time.Duration) bool
}

// realClock is the Clock returned by Real. It reads the wall clock once, at
// its origin, and the monotonic clock after that: every reading is the
// origin plus the monotonic time elapsed since, so a step of the system's
// wall clock (NTP, an administrator setting the date) does not move it.
type realClock struct {
	origin time.Time                     // the wall clock's reading when the clock was made, with its monotonic reading
	since  func(time.Time) time.Duration // the monotonic time elapsed since a reading: time.Since
}

// newRealClock returns a realClock whose origin is now() and whose readings
// advance by since(origin). Real passes time.Now and time.Since; tests pass
// a simulated system clock.
func newRealClock(now func() time.Time, since func(time.Time) time.Duration) *realClock {
	return &realClock{origin: now(), since: since}
}

// Now returns the origin plus the monotonic time elapsed since it. The
// result keeps a monotonic reading (the origin's, advanced by the same
// amount), so Sub, Before and the like between it and another reading that
// has one, [time.Now]'s included, measure monotonic time.
func (c *realClock) Now() time.Time { return c.origin.Add(c.since(c.origin)) }

// AfterFunc calls time.AfterFunc, whose delay is monotonic time already; the
// returned *time.Timer is the Timer, and a Resetter.
func (*realClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// realShared is the single value returned by Real; its origin is the wall
// clock's reading when the package was initialised.
var realShared Clock = newRealClock(time.Now, time.Since)

// Real returns the Clock backed by the time package and the system's
// monotonic clock. Every call returns the same shared value, and the clock
// adds no allocation of its own to those made by the time package.
//
// Now reads the wall clock once, when the package is initialised, and from
// then on returns that reading plus the monotonic time elapsed since
// ([time.Since]): its readings never go backwards and a step of the system's
// wall clock does not move them, so a clock set a year ahead by mistake and
// set right again neither times out every pending invitation nor gives every
// later one a deadline a year away. AfterFunc calls [time.AfterFunc], whose
// delay is monotonic time too; its callback runs on its own goroutine and
// its *[time.Timer] serves as the [Timer] (a [Resetter]).
//
// The price is drift: a reading differs from the system's wall clock by
// every step the system made to its wall clock since the package was
// initialised; by its slewing too where the monotonic clock is not slewed
// with it (on Linux it is); and by the time the machine spent suspended
// where the monotonic clock stops meanwhile (on Linux it does). The
// readings, and the times a Registry built on this clock puts in its events
// (an event's At, member deadlines), are for ordering and deadlines, not for
// display: a host that shows wall time should take it from [time.Now] when
// it shows it, or restart the process to bring the origin back to the wall
// clock.
func Real() Clock { return realShared }
