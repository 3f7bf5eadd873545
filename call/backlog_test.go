package call_test

import (
	"errors"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Backlog counts the events produced and not yet handed to the Sink: from
// inside Emit, the rest of the batch being delivered and what nested
// commands queued; between commands of one goroutine, nothing (C3).
func TestBacklogCountsWhatWaitsForTheSink(t *testing.T) {
	var r *call.Registry
	var seen []int
	nested := false
	sink := events.SinkFunc(func(e events.Event) {
		seen = append(seen, r.Backlog())
		if nested || e.Kind != events.InvitationCreated {
			return
		}
		nested = true
		for i := range 3 { // each queues InvitationCreated and InvitationReceived
			if _, err := r.Invite("n"+strconv.Itoa(i), []string{"m" + strconv.Itoa(i)}, call.InviteConfig{}); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, r.Backlog())
		}
	})
	var err error
	r, err = call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Backlog(); n != 0 {
		t.Fatalf("Backlog of a new Registry = %d", n)
	}
	if _, err := r.Invite("a", []string{"b", "c"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	// The outer batch is 3 events (Created, Received ×2), counted whole
	// until delivered; the nested invites add 2 each; then the nested
	// batch of 6 goes out the same way.
	want := []int{3, 5, 7, 9, 9, 9, 6, 6, 6, 6, 6, 6}
	if !slices.Equal(seen, want) {
		t.Fatalf("Backlog seen = %v, want %v", seen, want)
	}
	if n := r.Backlog(); n != 0 {
		t.Fatalf("Backlog after the command returned = %d, want 0 (C3)", n)
	}
}

// A host that refuses new invites while Backlog is over a limit keeps the
// events waiting for a slow Sink bounded under concurrent use, which they
// are not otherwise. The bound is checked against the Sink's own count:
// events made by commands that returned, less those emitted.
func TestBacklogBoundsTheQueueWhenHostsShed(t *testing.T) {
	const limit, workers = 200, 4
	var emitted atomic.Int64
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: slowSink(2*time.Microsecond, &emitted),
		NewID: concurrentIDs()})
	if err != nil {
		t.Fatal(err)
	}
	var made, shed atomic.Int64
	var worst atomic.Int64
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				if r.Backlog() > limit {
					shed.Add(1) // a host would answer 503
					runtime.Gosched()
					continue
				}
				caller, callee := "a"+strconv.Itoa(w*1000+i%50), "b"+strconv.Itoa(w*1000+i%50)
				res, err := r.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				if err := r.Accept(callee, res.CallID, call.AcceptConfig{}); err != nil {
					t.Error(err)
					return
				}
				raise(&worst, made.Add(4)-emitted.Load())
			}
		})
	}
	wg.Wait()
	waitIdle(t, r)
	// Each worker may pass the check just under the limit, and then make
	// one lifecycle's 4 events.
	if w := worst.Load(); w > limit+4*workers {
		t.Fatalf("%d events waited for the Sink, want at most %d", w, limit+4*workers)
	}
	if r.Backlog() != 0 || emitted.Load() != made.Load() {
		t.Fatalf("once inputs stopped: Backlog %d, emitted %d of %d", r.Backlog(), emitted.Load(), made.Load())
	}
	t.Logf("%d lifecycles, %d invites shed, worst backlog %d", made.Load()/4, shed.Load(), worst.Load())
}

// How many events wait for the Sink under concurrent use, and how long a
// command takes, when Emit is slower than the commands that feed it (C3,
// C5), with the default MaxBacklog: four goroutines (two per P) of invites
// and accepts. Reported as max-queued, the longest Backlog seen (sampled
// after every 16th lifecycle, since Backlog takes the lock the commands
// take), max-lifecycle-ms, the longest invite + accept, and refused, the
// commands refused with ErrOverloaded (retried at once, as a client
// would). Run with -benchtime in seconds.
func BenchmarkQueueUnderSlowSink(b *testing.B) {
	for _, spin := range []time.Duration{0, 500 * time.Nanosecond, 2 * time.Microsecond, 5 * time.Microsecond} {
		b.Run("emit="+spin.String(), func(b *testing.B) {
			r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: slowSink(spin, nil), NewID: concurrentIDs()})
			if err != nil {
				b.Fatal(err)
			}
			var worker, longest, slowest, refused atomic.Int64
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				w := int(worker.Add(1))
				for i := 0; pb.Next(); i++ {
					caller, callee := "a"+strconv.Itoa(w*1000+i%100), "b"+strconv.Itoa(w*1000+i%100)
					start := time.Now()
					res, err := r.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Minute})
					for errors.Is(err, call.ErrOverloaded) { // C5: a client would retry later
						refused.Add(1)
						runtime.Gosched()
						res, err = r.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Minute})
					}
					if err != nil {
						b.Fatal(err)
					}
					err = r.Accept(callee, res.CallID, call.AcceptConfig{})
					for errors.Is(err, call.ErrOverloaded) {
						refused.Add(1)
						runtime.Gosched()
						err = r.Accept(callee, res.CallID, call.AcceptConfig{})
					}
					if err != nil {
						b.Fatal(err)
					}
					raise(&slowest, int64(time.Since(start)))
					if i%16 == 0 {
						raise(&longest, int64(r.Backlog()))
					}
				}
			})
			b.ReportMetric(float64(longest.Load()), "max-queued")
			b.ReportMetric(float64(slowest.Load())/1e6, "max-lifecycle-ms")
			b.ReportMetric(float64(refused.Load()), "refused")
		})
	}
}

// slowSink spends d on every event, as a Sink that writes to the network
// inside Emit does, and counts the events in emitted (if not nil).
func slowSink(d time.Duration, emitted *atomic.Int64) events.Sink {
	return events.SinkFunc(func(events.Event) {
		if emitted != nil {
			emitted.Add(1)
		}
		for start := time.Now(); time.Since(start) < d; {
		}
	})
}

// raise makes hi at least v.
func raise(hi *atomic.Int64, v int64) {
	for old := hi.Load(); v > old && !hi.CompareAndSwap(old, v); old = hi.Load() {
	}
}

// nowCounter is a clock that counts its readings.
type nowCounter struct {
	*clock.Manual
	reads int
}

func (c *nowCounter) Now() time.Time { c.reads++; return c.Manual.Now() }
