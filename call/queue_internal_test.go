package call

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// How many events wait for the Sink under concurrent use, when Emit is
// slower than the commands that feed it: one goroutine delivers for all,
// and the others' commands return without waiting (C3), so the queue grows
// with the run. Reported as max-queued: the longest Backlog seen, sampled
// after every 16th lifecycle; and max-lifecycle-ms, the longest invite +
// accept, which is long when its goroutine happened to become the one
// that delivers and the other kept feeding it. Run with -cpu 1,2 and
// -benchtime in seconds; see the Sink's godoc, which quotes it.
func BenchmarkQueueUnderSlowSink(b *testing.B) {
	for _, spin := range []time.Duration{0, 500 * time.Nanosecond, 2 * time.Microsecond} {
		b.Run("emit="+spin.String(), func(b *testing.B) {
			sink := events.SinkFunc(func(events.Event) {
				for s := time.Now(); spin > 0 && time.Since(s) < spin; {
				}
			})
			var n atomic.Int64
			r, err := NewRegistry(Options{Clock: clock.NewManual(time.Unix(0, 0)), Sink: sink,
				NewID: func() string { return "c" + strconv.FormatInt(n.Add(1), 10) }})
			if err != nil {
				b.Fatal(err)
			}
			var worker atomic.Int64
			var longest, slowest atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				w := int(worker.Add(1))
				for i := 0; pb.Next(); i++ {
					caller, callee := "a"+strconv.Itoa(w*1000+i%100), "b"+strconv.Itoa(w*1000+i%100)
					start := time.Now()
					res, err := r.Invite(caller, []string{callee}, InviteConfig{Timeout: time.Minute})
					if err != nil {
						b.Fatal(err)
					}
					if err := r.Accept(callee, res.CallID, AcceptConfig{}); err != nil {
						b.Fatal(err)
					}
					d := int64(time.Since(start))
					for old := slowest.Load(); d > old && !slowest.CompareAndSwap(old, d); old = slowest.Load() {
					}
					if i%16 == 0 { // sample: Backlog takes the lock the commands take
						q := int64(r.Backlog())
						for old := longest.Load(); q > old && !longest.CompareAndSwap(old, q); old = longest.Load() {
						}
					}
				}
			})
			b.ReportMetric(float64(longest.Load()), "max-queued")
			b.ReportMetric(float64(slowest.Load())/1e6, "max-lifecycle-ms")
		})
	}
}
