package clock_test

import (
	"fmt"
	"time"

	"github.com/callsig/callsig/clock"
)

// A component that takes a Clock can be driven by a Manual clock in tests.
type session struct {
	clk     clock.Clock
	timeout clock.Timer
}

func (s *session) start(idle time.Duration) {
	s.timeout = s.clk.AfterFunc(idle, func() {
		fmt.Println("session timed out at", s.clk.Now().Format(time.TimeOnly))
	})
}

func Example() {
	m := clock.NewManual(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC))
	s := &session{clk: m}
	s.start(30 * time.Second)

	m.Advance(29 * time.Second)
	fmt.Println("pending:", m.Pending())
	m.Advance(time.Second)
	fmt.Println("pending:", m.Pending())
	// Output:
	// pending: 1
	// session timed out at 12:00:30
	// pending: 0
}

func ExampleManual() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m := clock.NewManual(start)
	at := func(name string) func() {
		return func() { fmt.Println(name, "at", m.Now().Sub(start)) }
	}
	m.AfterFunc(3*time.Second, at("c"))
	m.AfterFunc(1*time.Second, at("a"))
	m.AfterFunc(1*time.Second, at("b")) // same deadline as "a": runs after it
	m.AfterFunc(0, at("now"))           // due at once, but runs on the next Advance

	fmt.Println("advancing")
	m.Advance(2 * time.Second)
	fmt.Println("now", m.Now().Sub(start), "pending", m.Pending())
	// Output:
	// advancing
	// now at 0s
	// a at 1s
	// b at 1s
	// now 2s pending 1
}

func ExampleManual_Advance() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m := clock.NewManual(start)

	// A periodic tick: each callback schedules the next one, and every tick
	// that falls due within the Advance runs before it returns.
	var tick func()
	tick = func() {
		fmt.Println("tick at", m.Now().Sub(start))
		m.AfterFunc(time.Second, tick)
	}
	m.AfterFunc(time.Second, tick)

	m.Advance(3500 * time.Millisecond)
	fmt.Println("now", m.Now().Sub(start))
	// Output:
	// tick at 1s
	// tick at 2s
	// tick at 3s
	// now 3.5s
}

func ExampleManual_Set() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m := clock.NewManual(start)
	m.AfterFunc(time.Hour, func() { fmt.Println("an hour passed") })

	m.Set(start.Add(90 * time.Minute))
	fmt.Println(m.Now().Format(time.TimeOnly))

	m.Set(start) // earlier than Now: ignored
	fmt.Println(m.Now().Format(time.TimeOnly))
	// Output:
	// an hour passed
	// 01:30:00
	// 01:30:00
}

func ExampleTimer_Stop() {
	m := clock.NewManual(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	t := m.AfterFunc(time.Minute, func() { fmt.Println("never printed") })

	fmt.Println(t.Stop()) // stopped a pending timer
	fmt.Println(t.Stop()) // already stopped
	m.Advance(time.Hour)
	fmt.Println("pending:", m.Pending())
	// Output:
	// true
	// false
	// pending: 0
}

// A deadline that moves, kept with one timer: reset it when the Clock's
// timers can be reset (Real's and Manual's can), else stop it and make
// another. This is how callsig's Registry keeps its one timer.
func ExampleResetter() {
	m := clock.NewManual(time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC))
	var c clock.Clock = m
	fire := func() { fmt.Println("due at", m.Now().Format("15:04:05")) }

	t := c.AfterFunc(30*time.Second, fire)
	move := func(d time.Duration) {
		if r, ok := t.(clock.Resetter); ok {
			r.Reset(d) // no new timer, no allocation
			return
		}
		t.Stop()
		t = c.AfterFunc(d, fire)
	}

	move(10 * time.Second) // the deadline comes earlier
	m.Advance(time.Minute)
	move(5 * time.Second) // a timer that ran can be reset too
	m.Advance(time.Minute)
	fmt.Println("pending:", m.Pending())
	// Output:
	// due at 09:00:10
	// due at 09:01:05
	// pending: 0
}

func ExampleReal() {
	c := clock.Real()
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	fmt.Println("fired")
	// Output:
	// fired
}
