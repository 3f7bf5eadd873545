package clock

import (
	"testing"
	"time"
)

// system simulates the system's two clocks as the time package sees them: a
// wall clock that can be stepped, and a monotonic clock that only advances.
// Like time.Now, now returns a reading that carries both; like time.Since,
// since measures from a reading's monotonic part, and from its wall part
// only for a reading without one.
type system struct {
	wall   time.Time
	mono   time.Duration
	monoAt map[time.Time]time.Duration // the monotonic part of each reading now returned
}

func newSystem(wall time.Time) *system {
	return &system{wall: wall, monoAt: map[time.Time]time.Duration{}}
}

func (s *system) now() time.Time {
	s.monoAt[s.wall] = s.mono
	return s.wall
}

func (s *system) since(t time.Time) time.Duration {
	if m, ok := s.monoAt[t]; ok {
		return s.mono - m
	}
	return s.wall.Sub(t)
}

// advance lets d pass: both clocks move.
func (s *system) advance(d time.Duration) {
	s.wall = s.wall.Add(d)
	s.mono += d
}

// step sets the wall clock d away, as NTP or an administrator does; the
// monotonic clock does not move.
func (s *system) step(d time.Duration) { s.wall = s.wall.Add(d) }

// A step of the wall clock, a year ahead and then two years back, does not
// move Real's readings: each is the origin plus the monotonic time elapsed.
func TestRealIgnoresWallSteps(t *testing.T) {
	const year = 365 * 24 * time.Hour
	s := newSystem(epoch)
	c := newRealClock(s.now, s.since)
	check := func(what string, elapsed time.Duration) {
		t.Helper()
		if got, want := c.Now(), epoch.Add(elapsed); !got.Equal(want) {
			t.Fatalf("%s: Now() = %v, want the origin plus the monotonic time elapsed, %v", what, got, want)
		}
	}
	check("at the origin", 0)
	s.advance(5 * time.Second)
	check("5s later", 5*time.Second)
	s.step(year)
	check("after the wall clock stepped a year ahead", 5*time.Second)
	s.advance(10 * time.Second)
	check("10s after the step ahead", 15*time.Second)
	s.step(-2 * year)
	check("after the wall clock stepped two years back", 15*time.Second)
	s.advance(time.Second)
	check("1s after the step back", 16*time.Second)
}

// Real's readings never go backwards, and they advance with the monotonic
// clock exactly, in their wall part as in their monotonic reading.
func TestRealNowFollowsMonotonic(t *testing.T) {
	c := Real()
	if d := c.Now().Round(0).Sub(time.Now().Round(0)).Abs(); d > time.Minute {
		t.Fatalf("Real().Now() is %v away from the wall clock in a fresh process", d)
	}
	prev := c.Now()
	for i := range 100_000 {
		now := c.Now()
		if now.Before(prev) || now.Round(0).Before(prev.Round(0)) {
			t.Fatalf("reading %d: %v is before the previous one, %v", i, now, prev)
		}
		prev = now
	}
	earlier := c.Now()
	time.Sleep(20 * time.Millisecond)
	lo := time.Since(earlier)
	now := c.Now()
	hi := time.Since(earlier)
	if got := now.Sub(earlier); got < lo || got > hi {
		t.Fatalf("Now() - earlier = %v, want between time.Since(earlier) just before and after, %v and %v", got, lo, hi)
	}
	if got := now.Round(0).Sub(earlier.Round(0)); got < lo || got > hi {
		t.Fatalf("wall parts: Now() - earlier = %v, want between time.Since(earlier) just before and after, %v and %v", got, lo, hi)
	}
}

func TestRealNowDoesNotAllocate(t *testing.T) {
	c := Real()
	if n := testing.AllocsPerRun(100, func() { _ = c.Now() }); n != 0 {
		t.Fatalf("Real().Now() allocates %v times", n)
	}
}

// A Registry resets its one timer rather than making a new one when the
// Clock's timers are Resetters; Real's must stay so.
func TestRealTimerIsResetter(t *testing.T) {
	tm := Real().AfterFunc(time.Hour, func() {})
	defer tm.Stop()
	r, ok := tm.(Resetter)
	if !ok {
		t.Fatalf("Real's Timer is a %T, not a Resetter", tm)
	}
	if !r.Reset(time.Hour) {
		t.Fatal("Reset of a pending timer = false, want true")
	}
}

func BenchmarkRealNow(b *testing.B) {
	c := Real()
	for b.Loop() {
		_ = c.Now()
	}
}
