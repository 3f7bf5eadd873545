package clock

import "time"

// Clock is a source of the current time and a scheduler of callbacks.
//
// Code that needs time should accept a Clock rather than call the time
// package directly, so that tests and simulations can substitute a [Manual]
// clock for [Real].
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

// realClock is the Clock returned by Real. It is zero-sized, so converting
// it to a Clock does not allocate.
type realClock struct{}

// Now returns time.Now().
func (realClock) Now() time.Time { return time.Now() }

// AfterFunc calls time.AfterFunc; the returned *time.Timer is the Timer.
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// realShared is the single value returned by Real.
var realShared Clock = realClock{}

// Real returns the Clock backed by the time package: Now calls [time.Now]
// and AfterFunc calls [time.AfterFunc], whose callback runs on its own
// goroutine and whose *[time.Timer] serves as the [Timer]. Every call
// returns the same shared value, and the clock adds no allocation of its
// own to those made by the time package.
func Real() Clock { return realShared }
