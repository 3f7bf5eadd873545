package call_test

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// burstCalls is how many calls fall due at once in BenchmarkBurstMillion.
const burstCalls = 1_000_000

// burstTimeout is every burst call's timeout: all are made at one clock
// reading, so all fall due at one instant.
const burstTimeout = time.Minute

// B4's bursts: 1,000,000 pending 1-invitee calls, each between two users in
// no other call, made with the default NewID at one clock reading with one
// timeout, so that all fall due at one instant. ns/op is the one clock
// advance that times them all out, events delivered included (RULES.md §7: ≤ 2 s);
// peakMB the most heap in use beyond what was in use before it (the calls'
// own) at any sample (RULES.md §7: ≤ 256 MiB); heapWatch says how it samples, and
// what liveMB and allocMB add.
//
//   - from=live: the calls are made on the Registry, and one Advance moves
//     the clock past their deadline.
//   - from=restore: the calls are made, snapshotted, and restored into a
//     Registry whose clock already reads past their deadline, as after a
//     host was down; the first Advance(0), which runs the Registry's timer,
//     times them out. Snapshot and Restore are not timed.
//
// Making a million calls takes seconds, untimed: run with -benchtime=1x.
func BenchmarkBurstMillion(b *testing.B) {
	b.Run("from=live", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			w := &heapWatch{}
			clk := clock.NewManual(t0)
			r := burstRegistry(b, call.Options{Clock: clk, Sink: w})
			fillBurst(b, r)
			w.start()
			b.StartTimer()
			clk.Advance(burstTimeout + time.Second)
			b.StopTimer()
			w.report(b, r)
		}
	})
	b.Run("from=restore", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			snap := func() []byte {
				r := burstRegistry(b, call.Options{Clock: clock.NewManual(t0)})
				fillBurst(b, r)
				snap, err := r.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				return snap
			}()
			w := &heapWatch{}
			clk := clock.NewManual(t0.Add(burstTimeout + time.Second))
			r, err := call.Restore(snap, call.Options{Clock: clk, Sink: w})
			if err != nil {
				b.Fatal(err)
			}
			if r.Len() != burstCalls {
				b.Fatalf("restored %d calls, want %d", r.Len(), burstCalls)
			}
			w.start()
			b.StartTimer()
			clk.Advance(0)
			b.StopTimer()
			w.report(b, r)
		}
	})
}

// burstRegistry is NewRegistry with o as it is (the Sink included).
func burstRegistry(tb testing.TB, o call.Options) *call.Registry {
	tb.Helper()
	r, err := call.NewRegistry(o)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// fillBurst makes burstCalls pending 1-invitee calls on r, each between two
// users in no other call, all at r's clock's current reading.
func fillBurst(tb testing.TB, r *call.Registry) {
	tb.Helper()
	cfg := call.InviteConfig{Timeout: burstTimeout}
	for done := 0; done < burstCalls; {
		n := min(roundPairs, burstCalls-done)
		u := freshUsers(2 * n)
		for i := range n {
			invitees := [1]string{u[2*i+1]}
			if _, err := r.Invite(u[2*i], invitees[:], cfg); err != nil {
				tb.Fatal(err)
			}
		}
		done += n
	}
}

// heapSampleEvery is how many events heapWatch lets pass between samples.
const heapSampleEvery = 10_000

// heapSampleTick is how often heapWatch samples the heap besides: a burst
// processed whole before its first event is delivered has its peak before
// the Sink sees anything.
const heapSampleTick = time.Millisecond

// heapWatch is a Sink that counts events and, once started, samples the
// heap every heapSampleEvery events (the first included), and every
// heapSampleTick from a goroutine of its own, through runtime/metrics,
// which does not stop the world:
//   - objects: "/memory/classes/heap/objects:bytes", the heap's objects,
//     live or not yet swept; its peak beyond the level before the burst is
//     peakMB, the heap the process needed at once (what the collector had
//     not yet freed included);
//   - live: "/gc/heap/live:bytes", the heap the last collection found live;
//     its peak beyond the level before is liveMB, what the burst kept
//     reachable, as of the collections that ran during it.
//
// allocMB is what the burst allocated in all. With the default GOGC the
// collector lets the heap grow by about its live size before it collects,
// so peakMB counts garbage as well as what is kept: peakMB close to allocMB
// means no collection finished during the burst.
type heapWatch struct {
	on, bg  heapPeak // sampled by the Sink, and by the ticking goroutine
	before  heapPeak // the levels before the burst
	sinking bool     // sample in Emit
	events  int
	stop    chan struct{}
	done    chan struct{}
}

// heapPeak is the highest of each metric over the samples it took.
type heapPeak struct {
	samples       [3]metrics.Sample
	objects, live uint64
	alloc         uint64 // the last reading
}

func (p *heapPeak) sample() {
	if p.samples[0].Name == "" {
		p.samples[0].Name = "/memory/classes/heap/objects:bytes"
		p.samples[1].Name = "/gc/heap/live:bytes"
		p.samples[2].Name = "/gc/heap/allocs:bytes"
	}
	metrics.Read(p.samples[:])
	p.objects = max(p.objects, p.samples[0].Value.Uint64())
	p.live = max(p.live, p.samples[1].Value.Uint64())
	p.alloc = p.samples[2].Value.Uint64()
}

func (w *heapWatch) Emit(events.Event) {
	w.events++
	if w.sinking && (w.events-1)%heapSampleEvery == 0 {
		w.on.sample()
	}
}

// start collects, so that the levels before the burst are the calls' own
// heap, and starts sampling.
func (w *heapWatch) start() {
	runtime.GC()
	w.before.sample()
	w.events, w.sinking = 0, true
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(heapSampleTick)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.bg.sample()
			}
		}
	}()
}

// report stops sampling, takes the last sample, checks that the burst
// timed out every call, and reports the peaks.
func (w *heapWatch) report(b *testing.B, r *call.Registry) {
	close(w.stop)
	<-w.done
	w.sinking = false
	w.on.sample()
	if n := r.Len(); n != 0 {
		b.Fatalf("%d calls left after the burst", n)
	}
	if w.events < burstCalls {
		b.Fatalf("%d events in the burst, want at least %d", w.events, burstCalls)
	}
	beyond := func(peak, before uint64) float64 {
		if peak < before {
			return 0
		}
		return float64(peak-before) / (1 << 20)
	}
	b.ReportMetric(beyond(max(w.on.objects, w.bg.objects), w.before.objects), "peakMB")
	b.ReportMetric(beyond(max(w.on.live, w.bg.live), w.before.live), "liveMB")
	b.ReportMetric(beyond(w.on.alloc, w.before.alloc), "allocMB")
	b.ReportMetric(float64(w.events), "events")
	runtime.KeepAlive(r)
}
