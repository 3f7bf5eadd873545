package clock

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Manual is a deterministic clock for tests and simulations. Time stands
// still until [Manual.Advance] or [Manual.Set] moves it, and those calls run
// every timer that falls due before they return.
//
// The rules of a Manual are:
//
//   - Due timers run synchronously on the goroutine that called Advance or
//     Set, in deadline order; timers with equal deadlines run in the order
//     they were created.
//   - No lock of the Manual is held while a callback runs, so a callback may
//     call Now, AfterFunc and Stop on the same Manual.
//   - While a callback runs, Now returns that timer's deadline.
//   - A timer created by a callback that falls due within the same Advance
//     or Set also runs before that call returns.
//   - A timer created with d <= 0 is due at once but is not run inside
//     AfterFunc; it runs on the next Advance or Set, Advance(0) included.
//   - Set to an earlier time and a negative Advance are ignored.
//   - [Timer.Stop] returns false once the timer has run or was stopped.
//
// A Manual is safe for concurrent use. Advance and Set calls are
// serialised: one waits for another to finish, callbacks included. They
// must not be called from inside a timer's callback; such a call would wait
// for the Advance or Set that is running the callback, that is, for itself,
// and never return.
//
// Now takes no lock, so goroutines and Registries that share a Manual do
// not wait on each other to read it. AfterFunc costs one allocation and
// starts no goroutine; Stop, Reset and the firing of a timer cost O(log n)
// for n pending timers, and Pending is O(1).
//
// Use [NewManual] to create a Manual; the zero value is not usable.
type Manual struct {
	// advMu serialises Advance and Set. It is held while callbacks run.
	advMu sync.Mutex

	// now, published for Now under a sequence lock, so that reading the
	// time takes no lock and allocates nothing: Registries or goroutines
	// that share a Manual read it on every input and must not queue on mu.
	// setNow, under mu, makes pubSeq odd, stores, and makes it even again;
	// Now retries while pubSeq is odd or changed under it.
	pubSeq  atomic.Uint64
	pubSec  atomic.Int64
	pubNsec atomic.Int64
	pubLoc  atomic.Pointer[time.Location]

	// mu guards the fields below. It is never held while a callback runs.
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []heapEntry // min-heap ordered by (sec, nsec, seq)
}

// heapEntry is one element of Manual's timer heap. It carries the ordering
// key inline, so that sifting through the heap compares integers in one
// contiguous slice instead of chasing a pointer to each timer.
type heapEntry struct {
	sec  int64  // deadline, t.when.Unix()
	nsec int64  // deadline, t.when.Nanosecond()
	seq  uint64 // creation order, to break ties
	t    *manualTimer
}

// manualTimer is the Timer returned by Manual.AfterFunc.
type manualTimer struct {
	m     *Manual
	when  time.Time
	f     func() // the callback, kept after it runs or is stopped, for Reset
	index int    // position in m.timers, or -1 once run or stopped
}

// NewManual returns a Manual clock whose Now is start. The monotonic clock
// reading, if any, is stripped from start (see [time.Time.Round]), so the
// times a Manual reports can be compared with ==.
func NewManual(start time.Time) *Manual {
	m := &Manual{}
	m.setNow(start.Round(0))
	return m
}

// setNow moves the time to t. m.mu must be held, or m not yet shared.
func (m *Manual) setNow(t time.Time) {
	m.now = t
	m.pubSeq.Add(1)
	m.pubSec.Store(t.Unix())
	m.pubNsec.Store(int64(t.Nanosecond()))
	m.pubLoc.Store(t.Location())
	m.pubSeq.Add(1)
}

// Now returns the clock's current time. While a timer's callback runs, that
// is the timer's deadline; after Advance or Set returns, it is the target of
// that call.
func (m *Manual) Now() time.Time {
	for {
		if seq := m.pubSeq.Load(); seq&1 == 0 {
			sec, nsec, loc := m.pubSec.Load(), m.pubNsec.Load(), m.pubLoc.Load()
			if m.pubSeq.Load() == seq {
				return time.Unix(sec, nsec).In(loc)
			}
		}
		runtime.Gosched() // a setNow is under way
	}
}

// AfterFunc schedules f to run once the clock reaches Now()+d, and returns a
// Timer that can cancel it. f runs synchronously inside the Advance or Set
// that moves the clock to or past that deadline. If d <= 0 the deadline is
// Now() and f runs on the next Advance or Set (Advance(0) included), never
// inside AfterFunc itself; called from a callback, such a timer runs within
// the same Advance or Set. AfterFunc panics if f is nil.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		panic("clock: Manual.AfterFunc called with nil func")
	}
	t := &manualTimer{m: m, f: f}
	m.mu.Lock()
	m.schedule(t, d)
	m.mu.Unlock()
	return t
}

// schedule puts t in the heap, due d from now (now, if d <= 0), after every
// timer made before it with the same deadline. m.mu must be held.
func (m *Manual) schedule(t *manualTimer, d time.Duration) {
	if d > 0 {
		t.when = m.now.Add(d)
	} else {
		t.when = m.now
	}
	m.push(t, m.seq)
	m.seq++
}

// Stop cancels the timer. It returns true if the timer was pending and
// false if it had already run or been stopped.
func (t *manualTimer) Stop() bool {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.index < 0 {
		return false
	}
	m.remove(t.index)
	return true
}

// Reset reschedules the timer to run its callback once the clock reaches
// Now()+d, as [time.Timer.Reset] does: it returns true if the timer was
// pending and false if it had run or been stopped. A reset timer keeps its
// callback and orders among equal deadlines as if it had just been created.
// It lets a long-lived owner keep one timer instead of making a new one for
// every deadline (AfterFunc costs one allocation; Reset none).
func (t *manualTimer) Reset(d time.Duration) bool {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	was := t.index >= 0
	if was {
		m.remove(t.index)
	}
	m.schedule(t, d)
	return was
}

// Advance moves the clock forward by d, running every timer whose deadline
// is at or before the new time, in deadline order, before it returns. When
// it returns, Now is exactly the old time plus d. A negative d is ignored;
// Advance(0) runs the timers that are already due.
//
// Advance waits for any other Advance or Set to finish. It must not be
// called from a timer's callback: that call would never return.
//
// If a callback panics, the panic goes up through Advance, which stops
// there: Now stays at that timer's deadline, the timers after it stay
// pending, and the Manual stays usable: the next Advance or Set runs them.
func (m *Manual) Advance(d time.Duration) {
	if d < 0 {
		return
	}
	m.advMu.Lock()
	defer m.advMu.Unlock()
	m.mu.Lock()
	m.runUntil(m.now.Add(d))
}

// Set moves the clock forward to t, running every timer whose deadline is
// at or before t, in deadline order, before it returns. When it returns,
// Now is t (without its monotonic clock reading). If t is before Now, Set
// is ignored and runs nothing; Set(m.Now()) runs the timers that are
// already due.
//
// Set waits for any other Advance or Set to finish. It must not be called
// from a timer's callback: that call would never return.
func (m *Manual) Set(t time.Time) {
	t = t.Round(0)
	m.advMu.Lock()
	defer m.advMu.Unlock()
	m.mu.Lock()
	if t.Before(m.now) {
		m.mu.Unlock()
		return
	}
	m.runUntil(t)
}

// Pending returns the number of timers that have neither run nor been
// stopped. A timer whose callback is running is not pending.
func (m *Manual) Pending() int {
	m.mu.Lock()
	n := len(m.timers)
	m.mu.Unlock()
	return n
}

// runUntil runs the due timers up to target and leaves Now at target. It is
// called with m.mu held and m.advMu held, and returns with m.mu released.
// m.mu is released around each callback.
func (m *Manual) runUntil(target time.Time) {
	sec, nsec := target.Unix(), int64(target.Nanosecond())
	for len(m.timers) > 0 {
		e := &m.timers[0]
		if e.sec > sec || (e.sec == sec && e.nsec > nsec) {
			break
		}
		t := e.t
		m.remove(0)
		// Deadlines in the heap are never before m.now, so time only moves
		// forward here.
		m.setNow(t.when)
		m.mu.Unlock()
		t.f()
		m.mu.Lock()
	}
	m.setNow(target)
	m.mu.Unlock()
}

// The heap operations below require m.mu to be held.

// less reports whether heap entry i fires before heap entry j.
func (m *Manual) less(i, j int) bool {
	a, b := &m.timers[i], &m.timers[j]
	if a.sec != b.sec {
		return a.sec < b.sec
	}
	if a.nsec != b.nsec {
		return a.nsec < b.nsec
	}
	return a.seq < b.seq
}

func (m *Manual) swap(i, j int) {
	h := m.timers
	h[i], h[j] = h[j], h[i]
	h[i].t.index = i
	h[j].t.index = j
}

func (m *Manual) push(t *manualTimer, seq uint64) {
	t.index = len(m.timers)
	m.timers = append(m.timers, heapEntry{
		sec:  t.when.Unix(),
		nsec: int64(t.when.Nanosecond()),
		seq:  seq,
		t:    t,
	})
	m.up(t.index)
}

// remove deletes the entry at index i from the heap and marks its timer as
// no longer pending.
func (m *Manual) remove(i int) {
	h := m.timers
	last := len(h) - 1
	t := h[i].t
	if i != last {
		m.swap(i, last)
	}
	h[last] = heapEntry{}
	m.timers = h[:last]
	if i != last {
		if !m.down(i) {
			m.up(i)
		}
	}
	t.index = -1
}
func (m *Manual) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(i, p) {
			break
		}
		m.swap(i, p)
		i = p
	}
}

// down sifts the element at i down and reports whether it moved.
func (m *Manual) down(i0 int) bool {
	n := len(m.timers)
	i := i0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && m.less(r, l) {
			c = r
		}
		if !m.less(c, i) {
			break
		}
		m.swap(i, c)
		i = c
	}
	return i > i0
}
