// Package clock provides an injectable source of time: a [Clock] that can
// tell the current time and schedule a callback, with two implementations.
//
// # Why inject a clock
//
// Code that calls [time.Now] and [time.AfterFunc] directly is hard to test
// and impossible to simulate: a test that wants to see a 30-second timeout
// must wait 30 seconds, and the order in which timers fire depends on the
// scheduler. Code that instead takes a [Clock] can be given the real clock in
// production and a [Manual] clock in tests and simulations, where time moves
// only when the caller says so and every timer fires at a known instant, in
// a known order, on the caller's goroutine.
//
// # Real and Manual
//
// [Real] returns a Clock backed by the system's monotonic clock and
// [time.AfterFunc]: it reads the wall clock once, at start, and advances from
// there with the monotonic clock, so a step of the system's wall clock does
// not move it (and its readings drift from the wall clock by every such step
// since). Its callbacks run on their own goroutines, as with the time
// package.
//
// [Manual] is a deterministic clock. It starts at the time given to
// [NewManual] and moves only through [Manual.Advance] and [Manual.Set].
// Its rules are:
//
//   - Due timers run synchronously, inside Advance or Set, before the call
//     returns, in deadline order; timers with the same deadline run in the
//     order they were created.
//   - No lock of the Manual is held while a callback runs, so a callback may
//     call Now, AfterFunc and Stop freely.
//   - While a callback runs, Now returns that timer's deadline. When Advance
//     or Set returns, Now returns the target time exactly, whether or not any
//     timer ran.
//   - A timer that a callback creates and that falls due within the same
//     Advance or Set also runs before that call returns.
//   - A timer created with d <= 0 is due at once, but it does not run inside
//     AfterFunc: it runs on the next Advance or Set, Advance(0) included.
//   - Time never goes backwards: Set to an earlier time and a negative
//     Advance are ignored.
//   - Stop returns true only for the call that stops a pending timer; it
//     returns false once the timer has run or was stopped.
//   - A Manual is safe for concurrent use. Calls to Advance and Set are
//     serialised, and must not be made from inside a timer's callback (such
//     a call would wait for itself forever).
//
// # Driving a Manual clock
//
//	m := clock.NewManual(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
//	m.AfterFunc(2*time.Second, func() { fmt.Println("second", m.Now().Second()) })
//	m.AfterFunc(1*time.Second, func() { fmt.Println("first", m.Now().Second()) })
//	m.Advance(5 * time.Second) // prints "first 1", then "second 2"
//	fmt.Println(m.Now().Second(), m.Pending()) // 5 0
package clock
