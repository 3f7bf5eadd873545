package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBarrier is a coalescer's op that the test drives: each run tells
// its number (from 1) on started, then returns what the test sends on
// finish.
type fakeBarrier struct {
	started chan int
	finish  chan outcome
	runs    atomic.Int64
}

type outcome struct {
	index uint64
	err   error
}

func newFakeBarrier() *fakeBarrier {
	return &fakeBarrier{started: make(chan int), finish: make(chan outcome)}
}

func (f *fakeBarrier) op() (uint64, error) {
	f.started <- int(f.runs.Add(1))
	o := <-f.finish
	return o.index, o.err
}

// ask calls co.do(ctx) on a goroutine of its own and returns the channel
// its outcome will be sent on.
func ask(co *coalescer, ctx context.Context) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		i, err := co.do(ctx)
		ch <- outcome{i, err}
	}()
	return ch
}

// eventually waits until cond, which reads co under its lock, holds.
func eventually(t *testing.T, co *coalescer, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		co.mu.Lock()
		ok := cond()
		co.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// joined waits until n callers wait for co's next round.
func joined(t *testing.T, co *coalescer, n int) {
	t.Helper()
	eventually(t, co, "callers waiting for the next round", func() bool {
		return co.next != nil && co.next.waiters == n
	})
}

// idle waits until co runs no round and has none to run: its goroutine
// has ended.
func idle(t *testing.T, co *coalescer) {
	t.Helper()
	eventually(t, co, "the coalescer idle", func() bool { return !co.running && co.next == nil })
}

func get(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("a caller was not answered")
		return outcome{}
	}
}

func expectStart(t *testing.T, f *fakeBarrier, run int) {
	t.Helper()
	select {
	case k := <-f.started:
		if k != run {
			t.Fatalf("run %d started, not %d", k, run)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("run %d did not start", run)
	}
}

// A caller that arrives while a round is under way is not served by it:
// it gets the next round's result, and that round starts once the first
// has ended. Every caller that joined the next round shares its one run.
func TestCoalescerLaterRound(t *testing.T) {
	f := newFakeBarrier()
	co := newCoalescer(f.op)
	first := ask(co, context.Background())
	expectStart(t, f, 1)
	var later []<-chan outcome
	for i := range 10 {
		later = append(later, ask(co, context.Background()))
		joined(t, co, i+1)
	}
	f.finish <- outcome{index: 1}
	if o := get(t, first); o.index != 1 || o.err != nil {
		t.Fatalf("the first caller got %+v", o)
	}
	expectStart(t, f, 2)
	f.finish <- outcome{index: 2}
	for _, ch := range later {
		if o := get(t, ch); o.index != 2 || o.err != nil {
			t.Fatalf("a caller that arrived during round 1 got %+v, not round 2's", o)
		}
	}
	idle(t, co)
	if n := f.runs.Load(); n != 2 {
		t.Fatalf("%d runs for two rounds", n)
	}

	// Idle again: the next caller starts a round at once.
	again := ask(co, context.Background())
	expectStart(t, f, 3)
	f.finish <- outcome{index: 3}
	if o := get(t, again); o.index != 3 {
		t.Fatalf("a caller of an idle coalescer got %+v", o)
	}
	idle(t, co)
}

// A round's error goes to every caller of the round, and to them only.
func TestCoalescerErrors(t *testing.T) {
	f := newFakeBarrier()
	co := newCoalescer(f.op)
	errFirst, errNext := errors.New("first"), errors.New("next")
	first := ask(co, context.Background())
	expectStart(t, f, 1)
	a, b := ask(co, context.Background()), ask(co, context.Background())
	joined(t, co, 2)
	f.finish <- outcome{err: errFirst}
	if o := get(t, first); !errors.Is(o.err, errFirst) || o.index != 0 {
		t.Fatalf("the first caller got %+v", o)
	}
	expectStart(t, f, 2)
	f.finish <- outcome{index: 7, err: errNext}
	for _, ch := range []<-chan outcome{a, b} {
		if o := get(t, ch); !errors.Is(o.err, errNext) {
			t.Fatalf("a caller of round 2 got %+v", o)
		}
	}
	idle(t, co)
}

// A caller whose context ends leaves at once, whether its round is under
// way or still to start, and the others are served as before; a round
// whose callers all left before it started does not run.
func TestCoalescerCancel(t *testing.T) {
	f := newFakeBarrier()
	co := newCoalescer(f.op)

	ctx1, cancel1 := context.WithCancel(context.Background())
	first := ask(co, ctx1)
	expectStart(t, f, 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	leaver := ask(co, ctx2)
	stayer := ask(co, context.Background())
	joined(t, co, 2)

	cancel1() // under way
	if o := get(t, first); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("a caller cancelled while its round runs got %+v", o)
	}
	cancel2() // still to start
	if o := get(t, leaver); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("a caller cancelled while it waits for the next round got %+v", o)
	}
	joined(t, co, 1)
	f.finish <- outcome{index: 1}
	expectStart(t, f, 2)
	f.finish <- outcome{index: 2}
	if o := get(t, stayer); o.index != 2 || o.err != nil {
		t.Fatalf("the caller that stayed got %+v", o)
	}
	idle(t, co)

	// Every caller of the next round leaves: it does not run.
	third := ask(co, context.Background())
	expectStart(t, f, 3)
	ctx4, cancel4 := context.WithCancel(context.Background())
	gone := ask(co, ctx4)
	joined(t, co, 1)
	cancel4()
	if o := get(t, gone); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("a cancelled caller got %+v", o)
	}
	f.finish <- outcome{index: 3}
	if o := get(t, third); o.index != 3 {
		t.Fatalf("round 3's caller got %+v", o)
	}
	idle(t, co)
	if n := f.runs.Load(); n != 3 {
		t.Fatalf("%d runs: a round nobody waited for ran", n)
	}

	// A context already ended: no round at all.
	if _, err := co.do(ctx4); !errors.Is(err, context.Canceled) {
		t.Fatalf("do with an ended context: %v", err)
	}
	idle(t, co)
	if n := f.runs.Load(); n != 3 {
		t.Fatalf("%d runs after a call with an ended context", n)
	}
}

// Under concurrent callers, each is served by a round that started after
// it called, and a run serves many. (That a caller waits for two rounds
// at most is TestCoalescerLaterRound's: here a caller may be descheduled
// between its reading of the count and its call.)
func TestCoalescerConcurrent(t *testing.T) {
	var rounds atomic.Uint64
	co := newCoalescer(func() (uint64, error) {
		k := rounds.Add(1)
		time.Sleep(100 * time.Microsecond)
		return k, nil
	})
	const callers, calls = 50, 20
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range calls {
				before := rounds.Load()
				i, err := co.do(context.Background())
				if err != nil || i <= before {
					t.Errorf("a caller that arrived after %d rounds had started got round %d (%v)", before, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	idle(t, co)
	if n := rounds.Load(); n > callers*calls/4 {
		t.Errorf("%d rounds for %d calls", n, callers*calls)
	}
}
