package call_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Faults in the Sink while a burst is delivered in slices, or while the
// Registry's own goroutine delivers, and a command whose reading the
// passing of time overtook while its burst was sliced (C3, C6, D3).

// eventually fails the test unless cond holds within two seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after two seconds: %s", what)
		}
	}
}

// callSeqs is a Sink's log of (CallID, Seq), safe for concurrent use.
type callSeqs struct {
	mu  sync.Mutex
	got []string
}

func (c *callSeqs) add(e events.Event) {
	c.mu.Lock()
	c.got = append(c.got, fmt.Sprintf("%s %d", e.CallID, e.Seq))
	c.mu.Unlock()
}

func (c *callSeqs) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

// A Sink that panics, or leaves its goroutine with runtime.Goexit, while
// the timer's input delivers a slice of a burst loses that event only: the
// rest of the slice still reaches the Sink with no further input, and what
// is still due times out when the timer fires again, as after any panic
// (C6).
func TestSinkPanicBetweenSlicesStrandsNothing(t *testing.T) {
	for _, goexit := range []bool{false, true} {
		t.Run(fmt.Sprintf("Goexit=%v", goexit), func(t *testing.T) { sinkPanicBetweenSlices(t, goexit) })
	}
}

func sinkPanicBetweenSlices(t *testing.T, goexit bool) {
	defer call.SetSliceEvents(2)() // one call's timeout (2 events) per slice
	clk := clock.NewManual(t0)
	var log callSeqs
	var panicked atomic.Bool
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind == events.InviteesAnsweredTimeout && panicked.CompareAndSwap(false, true) {
			if goexit {
				runtime.Goexit()
			}
			panic("host Sink panicked")
		}
		log.add(e)
	})
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := reg.Invite(fmt.Sprint("a", i), []string{fmt.Sprint("b", i)}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	log.take()
	if goexit {
		done := make(chan struct{})
		go func() { defer close(done); clk.Advance(31 * time.Second) }()
		<-done
	} else {
		mustPanic(t, "Advance whose burst's Sink panicked", func() { clk.Advance(31 * time.Second) })
	}
	answers(t, reg)
	eventually(t, "the rest of the slice still waits for the Sink with no input under way",
		func() bool { return reg.Backlog() == 0 })
	clk.Advance(time.Second) // the timer was armed again, a second on
	eventually(t, "events wait", func() bool { return reg.Backlog() == 0 })
	want := []string{"c1 4", "c2 3", "c2 4", "c3 3", "c3 4"}
	if got := log.take(); !slices.Equal(got, want) {
		t.Fatalf("the Sink got %v, want %v", got, want)
	}
	if reg.Len() != 0 {
		t.Fatalf("Len %d after the burst's deadline and the timer's retry, want 0", reg.Len())
	}
}

// A Sink that leaves its goroutine with runtime.Goexit (t.FailNow, say)
// while the Registry's own goroutine delivers loses that event only: the
// rest is still delivered, and the next command delivers its own events
// before it returns (C3, C6).
func TestSinkGoexitOnTheDrainGoroutine(t *testing.T) {
	var log callSeqs
	sink := events.SinkFunc(func(e events.Event) {
		switch {
		case e.To == "b1" && e.Kind == events.InvitationReceived:
			panic("host Sink panicked") // the rest goes to the drain goroutine
		case e.To == "b2" && e.Kind == events.InvitationReceived:
			runtime.Goexit() // on the drain goroutine
		}
		log.add(e)
	})
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	mustPanic(t, "Invite whose Sink panicked", func() {
		_, _ = reg.Invite("alice", []string{"b1", "b2", "b3", "b4"}, call.InviteConfig{})
	})
	eventually(t, "events wait for the Sink after it left the drain goroutine",
		func() bool { return reg.Backlog() == 0 })
	if _, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"c1 1", "c1 4", "c1 5", "c2 1", "c2 2"}
	if got := log.take(); !slices.Equal(got, want) {
		t.Fatalf("the Sink got %v, want %v", got, want)
	}
}

// The same on the goroutine of the command that delivers: the command's
// goroutine ends, and the rest of its events is still delivered.
func TestSinkGoexitOnTheCommandsGoroutine(t *testing.T) {
	var log callSeqs
	sink := events.SinkFunc(func(e events.Event) {
		if e.To == "b1" && e.Kind == events.InvitationReceived {
			runtime.Goexit()
		}
		log.add(e)
	})
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = reg.Invite("alice", []string{"b1", "b2"}, call.InviteConfig{})
	}()
	<-done
	eventually(t, "events wait for the Sink", func() bool { return reg.Backlog() == 0 })
	if _, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"c1 1", "c1 3", "c2 1", "c2 2"}
	if got := log.take(); !slices.Equal(got, want) {
		t.Fatalf("the Sink got %v, want %v", got, want)
	}
}

// setClock is a Clock whose reading the test sets; its timers never fire.
type setClock struct {
	*clock.Manual
	at atomic.Int64 // nanoseconds since t0
}

func newSetClock() *setClock            { return &setClock{Manual: clock.NewManual(t0)} }
func (c *setClock) Now() time.Time      { return t0.Add(time.Duration(c.at.Load())) }
func (c *setClock) set(d time.Duration) { c.at.Store(int64(d)) }

// An input whose burst is delivered in slices gives up the lock between
// them, and another input — here one the Sink makes from inside Emit — may
// take effect meanwhile at a later reading. The first input's own change
// then takes effect at that later reading, never before it (D3): time
// does not run backwards in the journal or the events, and a replay of the
// journal rebuilds the same state (D1).
func TestSlicedInputNeverTakesEffectBeforeTheLast(t *testing.T) {
	defer call.SetSliceEvents(2)()
	clk := newSetClock()
	var reg *call.Registry
	var journal []call.Entry
	var created []events.Event
	var once sync.Once
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind == events.InvitationCreated {
			created = append(created, e)
		}
		if e.Kind == events.InviteesAnsweredTimeout {
			once.Do(func() {
				clk.set(40 * time.Second)
				if _, err := reg.Invite("n", []string{"m"}, call.InviteConfig{Timeout: time.Minute}); err != nil {
					t.Errorf("Invite from inside Emit: %v", err)
				}
			})
		}
	})
	o := call.Options{Clock: clk, Sink: sink, NewID: counterIDs(),
		Journal: call.JournalFunc(func(e call.Entry) error { journal = append(journal, e); return nil })}
	var err error
	if reg, err = call.NewRegistry(o); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := reg.Invite(fmt.Sprint("a", i), []string{fmt.Sprint("b", i)}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	clk.set(31 * time.Second)
	res, err := reg.Invite("x", []string{"y"}, call.InviteConfig{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(100 * time.Second); !res.Deadline.Equal(want) {
		t.Errorf("the Invite took effect with deadline %v, want %v: at the nested Invite's later reading (D3)", res.Deadline, want)
	}
	for i := 1; i < len(journal); i++ {
		if journal[i].At.Before(journal[i-1].At) {
			t.Errorf("journal entry %d (%s) at %v, before entry %d at %v", i, journal[i].Op, journal[i].At, i-1, journal[i-1].At)
		}
	}
	for i := 1; i < len(created); i++ {
		if created[i].At.Before(created[i-1].At) {
			t.Errorf("%s created at %v, after %s created at %v", created[i].CallID, created[i].At, created[i-1].CallID, created[i-1].At)
		}
	}
	o.Journal, o.Sink = nil, nil
	rec, err := call.Recover(nil, journal, o)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := snapshotOf(t, reg), snapshotOf(t, rec); a != b {
		t.Fatalf("the replay's state differs:\n%s\nwant\n%s", b, a)
	}
}

// An input that gives up the lock between the slices of a burst may find,
// when it takes it back, that another input took effect at a later reading
// and still has part of what fell due up to it to process (it gave up the
// lock between its own slices). The first input then takes effect at that
// later reading only once what fell due up to it is processed (D3, the
// Time rule): here the caller's Logout, read before the call's deadline
// but taking effect after it, finds the call timed out instead of
// cancelling it (G7). Which of the two inputs takes the lock back first is
// the scheduler's choice, so the test tries a few times.
func TestSlicedInputProcessesWhatFellDueUpToTheLast(t *testing.T) {
	defer call.SetSliceEvents(2)() // one call's timeout (2 events) per slice
	for attempt := range 20 {
		clk := newSetClock()
		inSink, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		var mu sync.Mutex
		var x []events.Event // the events of the caller's call
		sink := events.SinkFunc(func(e events.Event) {
			if e.Kind == events.InviteesAnsweredTimeout {
				once.Do(func() { close(inSink); <-release })
			}
			if e.Caller == "xc" {
				mu.Lock()
				x = append(x, e)
				mu.Unlock()
			}
		})
		reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: sink, NewID: counterIDs()})
		if err != nil {
			t.Fatal(err)
		}
		reg.Login("xc", "")
		for i := range 2 {
			if _, err := reg.Invite(fmt.Sprint("a", i), []string{fmt.Sprint("b", i)}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := reg.Invite("xc", []string{"xe"}, call.InviteConfig{Timeout: 35 * time.Second}); err != nil {
			t.Fatal(err)
		}
		clk.set(31 * time.Second)
		var wg sync.WaitGroup
		wg.Go(func() { reg.Logout("xc", "") }) // delivers the first slice, and waits in the Sink
		<-inSink
		clk.set(40 * time.Second)
		wg.Go(func() { reg.Login("g2", "") }) // takes effect at 40 s, and waits for the backlog between slices
		eventually(t, "the second input did not queue the second slice",
			func() bool { return reg.Backlog() == 4 }) // the first slice in flight, the second queued
		close(release)
		wg.Wait()
		waitIdle(t, reg)
		var kinds []events.Kind
		for _, e := range x[2:] {
			kinds = append(kinds, e.Kind)
		}
		if want := []events.Kind{events.InviteesAnsweredTimeout, events.InvitationTimeout}; !slices.Equal(kinds, want) {
			t.Fatalf("attempt %d: the caller's call ended with %v, want %v: the Logout took effect at 40 s before the call's deadline at 35 s was processed", attempt, kinds, want)
		}
	}
}

// TestBacklogAfterHandOffCountsWhatWaits: a command that delivered its own
// batch leaves the deliverer's role without the lock, and the count of
// that batch stays behind. When the next input queues events (a timeout
// that fell due) and then panics in host code, its events go to a drain
// goroutine. Until that goroutine takes them, Backlog counts what waits
// and nothing more, and a command is not refused for load (C5) on the
// count of a batch long delivered. GOMAXPROCS 1 keeps the drain goroutine
// from running before the checks.
func TestBacklogAfterHandOffCountsWhatWaits(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	clk := newSetClock()
	var emitted atomic.Int64
	var failID atomic.Bool
	var made int
	reg, err := call.NewRegistry(call.Options{Clock: clk, MaxBacklog: 5,
		Sink: events.SinkFunc(func(events.Event) { emitted.Add(1) }),
		NewID: func() string {
			if failID.Load() {
				panic("NewID fails")
			}
			made++
			return fmt.Sprintf("call%d", made)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Invite("a", []string{"b"}, call.InviteConfig{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	nine := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"}
	before := emitted.Load()
	if _, err := reg.Invite("z", nine, call.InviteConfig{Timeout: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if batch := emitted.Load() - before; batch < 5 {
		t.Fatalf("the 9-invitee invite delivered %d events, want at least MaxBacklog", batch)
	}
	clk.set(2 * time.Second) // a's invitation to b falls due with the next input
	failID.Store(true)
	before = emitted.Load()
	mustPanic(t, "NewID", func() { _, _ = reg.Invite("x", []string{"y"}, call.InviteConfig{Timeout: time.Minute}) })
	waiting := reg.Backlog()
	failID.Store(false)
	_, err = reg.Invite("p", []string{"q"}, call.InviteConfig{Timeout: time.Minute})
	eventually(t, "events wait for the Sink", func() bool { return reg.Backlog() == 0 })
	if queued := emitted.Load() - before; int64(waiting) > queued {
		t.Errorf("Backlog was %d after the panicking input, which queued %d events", waiting, queued)
	}
	if err != nil {
		t.Errorf("the next command: %v", err)
	}
}
