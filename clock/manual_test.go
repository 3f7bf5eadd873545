package clock

import (
	"fmt"
	"math/rand"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Compile-time checks that both clocks satisfy the interfaces.
var (
	_ Clock = (*Manual)(nil)
	_ Clock = Real()
	_ Timer = (*time.Timer)(nil)

	_ Resetter = (*time.Timer)(nil)
	_ Resetter = (*manualTimer)(nil)
)

func TestManualNowStartAndStripsMonotonic(t *testing.T) {
	start := time.Now() // carries a monotonic reading
	m := NewManual(start)
	if got := m.Now(); got != start.Round(0) {
		t.Fatalf("Now() = %v, want %v", got, start.Round(0))
	}
	m.Set(time.Now().Add(time.Hour))
	if got, want := m.Now(), m.Now().Round(0); got != want {
		t.Fatalf("Set kept monotonic reading: %v", got)
	}
}

func TestManualDeadlineOrder(t *testing.T) {
	m := NewManual(epoch)
	var got []int
	for _, s := range []int{5, 1, 4, 2, 3} {
		m.AfterFunc(time.Duration(s)*time.Second, func() { got = append(got, s) })
	}
	m.Advance(10 * time.Second)
	if want := []int{1, 2, 3, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

func TestManualDeadlineOrderRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	m := NewManual(epoch)
	type fired struct {
		when time.Time
		seq  int
	}
	var got []fired
	const n = 2000
	timers := make([]Timer, n)
	for i := range n {
		d := time.Duration(r.Intn(50)-5) * time.Millisecond
		timers[i] = m.AfterFunc(d, func() {
			if d <= 0 {
				d = 0
			}
			if want := epoch.Add(d); m.Now() != want {
				t.Errorf("timer %d ran at %v, want %v", i, m.Now(), want)
			}
			got = append(got, fired{m.Now(), i})
		})
	}
	// Stop a random third of them, exercising removal from the middle.
	stopped := 0
	for _, i := range r.Perm(n)[:n/3] {
		if !timers[i].Stop() {
			t.Fatalf("Stop(%d) = false", i)
		}
		stopped++
	}
	m.Advance(time.Second)
	if len(got) != n-stopped {
		t.Fatalf("fired %d, want %d", len(got), n-stopped)
	}
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if b.when.Before(a.when) || (b.when.Equal(a.when) && b.seq < a.seq) {
			t.Fatalf("out of order at %d: %v then %v", i, a, b)
		}
	}
}

func TestManualTiesInCreationOrder(t *testing.T) {
	m := NewManual(epoch)
	var got []int
	for i := range 20 {
		m.AfterFunc(time.Second, func() { got = append(got, i) })
	}
	m.Advance(time.Second)
	for i, v := range got {
		if v != i {
			t.Fatalf("ties ran in order %v, want creation order", got)
		}
	}
	if len(got) != 20 {
		t.Fatalf("ran %d timers, want 20", len(got))
	}
}

func TestManualNowInsideCallbackIsDeadline(t *testing.T) {
	m := NewManual(epoch)
	var seen []time.Time
	for _, d := range []time.Duration{3 * time.Second, time.Second, 2500 * time.Millisecond} {
		m.AfterFunc(d, func() { seen = append(seen, m.Now()) })
	}
	m.Advance(time.Minute)
	want := []time.Time{
		epoch.Add(time.Second),
		epoch.Add(2500 * time.Millisecond),
		epoch.Add(3 * time.Second),
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("Now in callbacks = %v, want %v", seen, want)
	}
	if got := m.Now(); got != epoch.Add(time.Minute) {
		t.Fatalf("Now after Advance = %v, want %v", got, epoch.Add(time.Minute))
	}
}

func TestManualNowIsTargetAfterAdvance(t *testing.T) {
	m := NewManual(epoch)
	m.Advance(7 * time.Nanosecond)
	if got := m.Now(); got != epoch.Add(7) {
		t.Fatalf("Now = %v, want %v", got, epoch.Add(7))
	}
	m.AfterFunc(time.Second, func() {})
	m.Advance(3 * time.Second)
	if got, want := m.Now(), epoch.Add(7+3*time.Second); got != want {
		t.Fatalf("Now = %v, want %v", got, want)
	}
}

func TestManualCallbackCreatedTimerRunsInSameAdvance(t *testing.T) {
	m := NewManual(epoch)
	var got []string
	m.AfterFunc(time.Second, func() {
		got = append(got, "a@"+m.Now().Sub(epoch).String())
		m.AfterFunc(time.Second, func() { // due at 2s: inside this Advance
			got = append(got, "b@"+m.Now().Sub(epoch).String())
		})
		m.AfterFunc(0, func() { // due at 1s, the current deadline
			got = append(got, "c@"+m.Now().Sub(epoch).String())
		})
		m.AfterFunc(10*time.Second, func() { // due at 11s: not this Advance
			got = append(got, "d@"+m.Now().Sub(epoch).String())
		})
	})
	m.AfterFunc(1500*time.Millisecond, func() {
		got = append(got, "e@"+m.Now().Sub(epoch).String())
	})
	m.Advance(5 * time.Second)
	want := []string{"a@1s", "c@1s", "e@1.5s", "b@2s"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if p := m.Pending(); p != 1 {
		t.Fatalf("Pending = %d, want 1", p)
	}
	m.Advance(6 * time.Second)
	if want = append(want, "d@11s"); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestManualNonPositiveDurationRunsOnNextAdvance(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		t.Run(d.String(), func(t *testing.T) {
			m := NewManual(epoch)
			var at []time.Time
			m.AfterFunc(d, func() { at = append(at, m.Now()) })
			if len(at) != 0 {
				t.Fatal("callback ran inside AfterFunc")
			}
			if p := m.Pending(); p != 1 {
				t.Fatalf("Pending = %d, want 1", p)
			}
			m.Advance(0)
			if len(at) != 1 || at[0] != epoch {
				t.Fatalf("after Advance(0): ran at %v, want once at %v", at, epoch)
			}
			if p := m.Pending(); p != 0 {
				t.Fatalf("Pending = %d, want 0", p)
			}
		})
	}
}

func TestManualNonPositiveDurationRunsOnSetNow(t *testing.T) {
	m := NewManual(epoch)
	ran := 0
	m.AfterFunc(0, func() { ran++ })
	m.Set(epoch)
	if ran != 1 {
		t.Fatalf("ran %d times, want 1", ran)
	}
}

func TestManualZeroDurationAfterEarlierTimersOrder(t *testing.T) {
	// A d<=0 timer made later has deadline Now(), which is earlier than
	// pending timers' deadlines, so it runs first.
	m := NewManual(epoch)
	var got []string
	m.AfterFunc(time.Second, func() { got = append(got, "later") })
	m.AfterFunc(0, func() { got = append(got, "now") })
	m.Advance(time.Second)
	if want := []string{"now", "later"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestManualSet(t *testing.T) {
	m := NewManual(epoch)
	var at []time.Time
	m.AfterFunc(time.Hour, func() { at = append(at, m.Now()) })
	m.AfterFunc(3*time.Hour, func() { at = append(at, m.Now()) })
	target := epoch.Add(2 * time.Hour)
	m.Set(target)
	if want := []time.Time{epoch.Add(time.Hour)}; !reflect.DeepEqual(at, want) {
		t.Fatalf("ran at %v, want %v", at, want)
	}
	if got := m.Now(); got != target {
		t.Fatalf("Now = %v, want %v", got, target)
	}
}

func TestManualSetBackwardsIgnored(t *testing.T) {
	m := NewManual(epoch)
	m.Advance(time.Hour)
	ran := 0
	m.AfterFunc(0, func() { ran++ })
	m.Set(epoch)
	if got := m.Now(); got != epoch.Add(time.Hour) {
		t.Fatalf("Now = %v after backwards Set, want %v", got, epoch.Add(time.Hour))
	}
	if ran != 0 {
		t.Fatalf("backwards Set ran %d timers, want 0", ran)
	}
	m.Set(epoch.Add(time.Hour))
	if ran != 1 {
		t.Fatalf("Set(Now) ran %d timers, want 1", ran)
	}
}

func TestManualNegativeAdvanceIgnored(t *testing.T) {
	m := NewManual(epoch)
	ran := 0
	m.AfterFunc(0, func() { ran++ })
	m.Advance(-time.Second)
	if got := m.Now(); got != epoch {
		t.Fatalf("Now = %v after negative Advance, want %v", got, epoch)
	}
	if ran != 0 {
		t.Fatalf("negative Advance ran %d timers, want 0", ran)
	}
	if p := m.Pending(); p != 1 {
		t.Fatalf("Pending = %d, want 1", p)
	}
}

func TestManualStop(t *testing.T) {
	m := NewManual(epoch)
	ran := 0
	tm := m.AfterFunc(time.Second, func() { ran++ })
	if !tm.Stop() {
		t.Fatal("first Stop = false, want true")
	}
	if tm.Stop() {
		t.Fatal("second Stop = true, want false")
	}
	m.Advance(time.Hour)
	if ran != 0 {
		t.Fatal("stopped timer ran")
	}

	tm = m.AfterFunc(time.Second, func() { ran++ })
	m.Advance(time.Second)
	if ran != 1 {
		t.Fatalf("ran %d, want 1", ran)
	}
	if tm.Stop() {
		t.Fatal("Stop after run = true, want false")
	}
}

func TestManualStopMiddleOfHeap(t *testing.T) {
	m := NewManual(epoch)
	var got []int
	timers := make([]Timer, 100)
	for i := range timers {
		d := time.Duration((i*37)%100) * time.Millisecond
		timers[i] = m.AfterFunc(d, func() { got = append(got, i) })
	}
	stopped := map[int]bool{}
	for i := 0; i < len(timers); i += 7 {
		if !timers[i].Stop() {
			t.Fatalf("Stop(%d) = false", i)
		}
		stopped[i] = true
	}
	if p, want := m.Pending(), 100-len(stopped); p != want {
		t.Fatalf("Pending = %d, want %d", p, want)
	}
	m.Advance(time.Second)
	if len(got) != 100-len(stopped) {
		t.Fatalf("ran %d, want %d", len(got), 100-len(stopped))
	}
	last := -1
	for _, i := range got {
		if stopped[i] {
			t.Fatalf("stopped timer %d ran", i)
		}
		d := (i * 37) % 100
		if d < last {
			t.Fatalf("out of order: %v", got)
		}
		last = d
	}
}

func TestManualPending(t *testing.T) {
	m := NewManual(epoch)
	if p := m.Pending(); p != 0 {
		t.Fatalf("Pending = %d, want 0", p)
	}
	a := m.AfterFunc(time.Second, func() {})
	m.AfterFunc(2*time.Second, func() {})
	m.AfterFunc(3*time.Second, func() {})
	if p := m.Pending(); p != 3 {
		t.Fatalf("Pending = %d, want 3", p)
	}
	a.Stop()
	if p := m.Pending(); p != 2 {
		t.Fatalf("Pending after Stop = %d, want 2", p)
	}
	a.Stop()
	if p := m.Pending(); p != 2 {
		t.Fatalf("Pending after second Stop = %d, want 2", p)
	}
	m.Advance(2 * time.Second)
	if p := m.Pending(); p != 1 {
		t.Fatalf("Pending after Advance = %d, want 1", p)
	}
	var inside int
	m.AfterFunc(0, func() { inside = m.Pending() })
	m.Advance(time.Second)
	if inside != 1 { // the 3s timer; the running one is not pending
		t.Fatalf("Pending inside callback = %d, want 1", inside)
	}
	if p := m.Pending(); p != 0 {
		t.Fatalf("Pending at end = %d, want 0", p)
	}
}

func TestManualCallbackStopsAndSchedules(t *testing.T) {
	m := NewManual(epoch)
	var got []string
	var victim, self Timer
	victim = m.AfterFunc(2*time.Second, func() { got = append(got, "victim") })
	self = m.AfterFunc(time.Second, func() {
		got = append(got, "killer")
		if !victim.Stop() {
			t.Error("Stop of pending victim from callback = false")
		}
		if self.Stop() {
			t.Error("Stop of the running timer from its own callback = true")
		}
		m.AfterFunc(500*time.Millisecond, func() { got = append(got, "new") })
	})
	m.Advance(3 * time.Second)
	if want := []string{"killer", "new"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if victim.Stop() {
		t.Fatal("second Stop of victim = true")
	}
}

func TestManualCallbackMayUseClockWithoutDeadlock(t *testing.T) {
	m := NewManual(epoch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.AfterFunc(time.Second, func() {
			_ = m.Now()
			_ = m.Pending()
			tm := m.AfterFunc(time.Hour, func() {})
			tm.Stop()
			// Another goroutine may use the clock too while we run.
			ch := make(chan time.Time)
			go func() { ch <- m.Now() }()
			if got := <-ch; got != epoch.Add(time.Second) {
				t.Errorf("Now from other goroutine = %v, want deadline", got)
			}
		})
		m.Advance(time.Second)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: callback using the clock did not return")
	}
}

func TestManualAdvanceSerialised(t *testing.T) {
	// While one Advance is running a callback, a concurrent Advance must wait.
	m := NewManual(epoch)
	entered := make(chan struct{})
	release := make(chan struct{})
	m.AfterFunc(time.Second, func() {
		close(entered)
		<-release
	})
	go m.Advance(time.Second)
	<-entered
	second := make(chan struct{})
	go func() {
		m.Advance(time.Second)
		close(second)
	}()
	select {
	case <-second:
		t.Fatal("second Advance returned while first was running a callback")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-second
	if got := m.Now(); got != epoch.Add(2*time.Second) {
		t.Fatalf("Now = %v, want %v", got, epoch.Add(2*time.Second))
	}
}

func TestManualConcurrent(t *testing.T) {
	m := NewManual(epoch)
	const (
		workers = 8
		perW    = 2000
	)
	var (
		fired   atomic.Int64
		stopped atomic.Int64
		runs    [workers * perW]atomic.Int32
	)
	stopAdv := make(chan struct{})
	advDone := make(chan struct{})
	go func() {
		defer close(advDone)
		last := m.Now()
		for {
			select {
			case <-stopAdv:
				return
			default:
			}
			m.Advance(time.Millisecond)
			if now := m.Now(); now.Before(last) {
				t.Errorf("time went backwards: %v < %v", now, last)
			} else {
				last = now
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewSource(int64(w)))
			prev := m.Now()
			for i := range perW {
				id := w*perW + i
				d := time.Duration(r.Intn(5000)-100) * time.Microsecond
				tm := m.AfterFunc(d, func() {
					runs[id].Add(1)
					fired.Add(1)
				})
				if r.Intn(2) == 0 && tm.Stop() {
					stopped.Add(1)
					if runs[id].Load() != 0 {
						t.Errorf("timer %d: Stop true after it ran", id)
					}
					runs[id].Add(100) // mark: must never reach 101
				}
				now := m.Now()
				if now.Before(prev) {
					t.Errorf("Now went backwards: %v < %v", now, prev)
				}
				prev = now
				_ = m.Pending()
			}
		})
	}
	wg.Wait()
	close(stopAdv)
	<-advDone
	m.Advance(time.Hour)
	if p := m.Pending(); p != 0 {
		t.Fatalf("Pending = %d after final Advance, want 0", p)
	}
	if got, want := fired.Load()+stopped.Load(), int64(workers*perW); got != want {
		t.Fatalf("fired %d + stopped %d = %d, want %d", fired.Load(), stopped.Load(), got, want)
	}
	for id := range runs {
		if v := runs[id].Load(); v != 1 && v != 100 {
			t.Fatalf("timer %d: state %d, want ran once (1) or stopped (100)", id, v)
		}
	}
}

func TestManualAfterFuncNilPanics(t *testing.T) {
	m := NewManual(epoch)
	defer func() {
		if recover() == nil {
			t.Fatal("AfterFunc(nil) did not panic")
		}
	}()
	m.AfterFunc(time.Second, nil)
}

func TestManualAfterFuncAllocs(t *testing.T) {
	m := NewManual(epoch)
	f := func() {}
	// Warm the heap's backing array so growth does not count.
	for range 1000 {
		m.AfterFunc(time.Second, f)
	}
	m.Advance(time.Second)
	allocs := testing.AllocsPerRun(100, func() {
		m.AfterFunc(time.Second, f).Stop()
	})
	if allocs > 1 {
		t.Fatalf("AfterFunc+Stop = %v allocs, want <= 1", allocs)
	}
}

func TestRealIsShared(t *testing.T) {
	if Real() != Real() {
		t.Fatal("Real() returned different values")
	}
	if n := testing.AllocsPerRun(100, func() { _ = Real() }); n != 0 {
		t.Fatalf("Real() allocates %v times", n)
	}
}

func TestRealAfterFuncFires(t *testing.T) {
	c := Real()
	before := c.Now()
	done := make(chan time.Time, 1)
	c.AfterFunc(time.Millisecond, func() { done <- c.Now() })
	select {
	case at := <-done:
		if at.Sub(before) < time.Millisecond {
			t.Fatalf("fired after %v, want >= 1ms", at.Sub(before))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Real AfterFunc did not fire")
	}
}

func TestRealStopBeforeFiring(t *testing.T) {
	var ran atomic.Bool
	tm := Real().AfterFunc(time.Hour, func() { ran.Store(true) })
	if !tm.Stop() {
		t.Fatal("Stop before firing = false, want true")
	}
	if tm.Stop() {
		t.Fatal("second Stop = true, want false")
	}
	if ran.Load() {
		t.Fatal("stopped timer ran")
	}
}

func BenchmarkManualAfterFuncAdvance(b *testing.B) {
	m := NewManual(epoch)
	f := func() {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.AfterFunc(time.Duration(i%1000)*time.Microsecond, f)
		if i%1000 == 999 {
			m.Advance(time.Millisecond)
		}
	}
}

func BenchmarkManualMillionTimers(b *testing.B) {
	f := func() {}
	for b.Loop() {
		m := NewManual(epoch)
		for i := range 1_000_000 {
			m.AfterFunc(time.Duration(i*7919%1_000_000)*time.Microsecond, f)
		}
		m.Advance(time.Second)
	}
}

func TestManualReset(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	var fired []time.Time
	tm := m.AfterFunc(time.Second, func() { fired = append(fired, m.Now()) }).(Resetter)
	other := m.AfterFunc(3*time.Second, func() { fired = append(fired, m.Now()) })
	_ = other

	// Pending: Reset moves it and reports that it was pending.
	if !tm.Reset(5 * time.Second) {
		t.Fatal("Reset of a pending timer returned false")
	}
	if m.Pending() != 2 {
		t.Fatalf("Pending %d after Reset, want 2", m.Pending())
	}
	m.Advance(4 * time.Second)
	if len(fired) != 1 || !fired[0].Equal(time.Unix(3, 0)) {
		t.Fatalf("after 4s fired %v, want only the 3s timer", fired)
	}
	m.Advance(time.Second)
	if len(fired) != 2 || !fired[1].Equal(time.Unix(5, 0)) {
		t.Fatalf("after 5s fired %v, want the reset timer at 5s", fired)
	}

	// Run: Reset schedules it again and reports it was not pending.
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a timer that ran returned true")
	}
	m.Advance(time.Second)
	if len(fired) != 3 || !fired[2].Equal(time.Unix(6, 0)) {
		t.Fatalf("fired %v, want a third run at 6s", fired)
	}

	// Stopped: Reset brings it back.
	tm.Reset(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop after Reset returned false")
	}
	if tm.Reset(2 * time.Second) {
		t.Fatal("Reset of a stopped timer returned true")
	}
	m.Advance(2 * time.Second)
	if len(fired) != 4 || !fired[3].Equal(time.Unix(8, 0)) {
		t.Fatalf("fired %v, want a fourth run at 8s", fired)
	}
	if m.Pending() != 0 {
		t.Fatalf("Pending %d, want 0", m.Pending())
	}
}

func TestManualResetOrdersAsNew(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	var order []string
	a := m.AfterFunc(time.Second, func() { order = append(order, "a") }).(Resetter)
	m.AfterFunc(time.Second, func() { order = append(order, "b") })
	a.Reset(time.Second) // a is now younger than b: ties run in creation order
	m.Advance(time.Second)
	if got := fmt.Sprint(order); got != "[b a]" {
		t.Fatalf("order %s, want [b a]", got)
	}
}

func TestManualResetAllocates(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	tm := m.AfterFunc(time.Second, func() {}).(Resetter)
	if n := testing.AllocsPerRun(100, func() { tm.Reset(time.Second); tm.Stop() }); n != 0 {
		t.Fatalf("Reset+Stop: %v allocations, want 0", n)
	}
}

// Now reads without the lock that timers and Advance take: Registries that
// share a Manual read the time on every input, and must not queue on it.
func TestManualNowTakesNoLock(t *testing.T) {
	m := NewManual(epoch)
	m.mu.Lock()
	defer m.mu.Unlock()
	got := make(chan time.Time, 1)
	go func() { got <- m.Now() }()
	select {
	case now := <-got:
		if !now.Equal(epoch) {
			t.Fatalf("Now = %v, want %v", now, epoch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Now waited for the Manual's lock")
	}
}

// Reading and moving the time allocate nothing: a Registry reads Now on
// every input, and a test or a replica may Advance a million times.
func TestManualNowAndAdvanceAllocateNothing(t *testing.T) {
	m := NewManual(epoch)
	fired := 0
	tm := m.AfterFunc(time.Hour, func() { fired++ })
	r := tm.(Resetter)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(time.Millisecond)
		m.Advance(time.Second)
		_ = m.Now()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Reset, Advance and Now, want 0", allocs)
	}
	if fired != 101 {
		t.Fatalf("the timer fired %d times, want 101", fired)
	}
}

// Now gives back exactly the time set, location and all, for any year.
func TestManualNowKeepsTheTimeExactly(t *testing.T) {
	for _, start := range []time.Time{
		epoch,
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 28, 1, 2, 3, 4, time.FixedZone("UTC+1", 3600)),
		time.Date(1969, 12, 31, 23, 59, 59, 5, time.Local),
	} {
		m := NewManual(start)
		if got := m.Now(); got != start {
			t.Errorf("NewManual(%v).Now() = %v", start, got)
		}
		m.Advance(time.Nanosecond)
		if got, want := m.Now(), start.Add(time.Nanosecond); got != want {
			t.Errorf("after Advance(1ns) from %v: Now() = %v, want %v", start, got, want)
		}
	}
}

// Now never returns a time torn between two Advances: the writer keeps
// the seconds and the nanoseconds equal, so a read mixing an old and a new
// value shows.
func TestManualNowIsNeverTorn(t *testing.T) {
	m := NewManual(time.Unix(0, 0).UTC())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if now := m.Now(); now.Unix() != int64(now.Nanosecond()) {
					t.Errorf("torn read: %v (seconds %d, nanoseconds %d)", now, now.Unix(), now.Nanosecond())
					return
				}
			}
		})
	}
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		for range 1000 {
			m.Advance(time.Second + time.Nanosecond)
		}
	}
	close(stop)
	wg.Wait()
}

// A callback that panics stops Advance at its timer; the Manual stays
// usable and the next Advance runs the timers after it.
func TestManualCallbackPanic(t *testing.T) {
	start := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	m := NewManual(start)
	var ran []int
	m.AfterFunc(1*time.Second, func() { ran = append(ran, 1) })
	m.AfterFunc(2*time.Second, func() { panic("callback panicked") })
	m.AfterFunc(3*time.Second, func() { ran = append(ran, 3) })
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Advance did not pass the callback's panic on")
			}
		}()
		m.Advance(5 * time.Second)
	}()
	if got := m.Now(); !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("after the panic Now = %v, want the panicking timer's deadline", got)
	}
	if m.Pending() != 1 || len(ran) != 1 {
		t.Fatalf("after the panic: %d pending, ran %v; want 1 pending, ran [1]", m.Pending(), ran)
	}
	m.Advance(3 * time.Second)
	if len(ran) != 2 || m.Pending() != 0 || !m.Now().Equal(start.Add(5*time.Second)) {
		t.Fatalf("the next Advance: ran %v, %d pending, Now %v", ran, m.Pending(), m.Now())
	}
}
