package journal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppendSync: goroutines each Append an entry and Sync it, as a
// host that acts on an input only once it is durable does, on a real file
// with fsync: group commit (the default) against one fsync per entry
// (SyncEachAppend). entries/s is the throughput of all goroutines together.
func BenchmarkAppendSync(b *testing.B) {
	for _, mode := range []struct {
		name string
		each bool
	}{{"group", false}, {"fsync-each", true}} {
		for _, g := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode.name, g), func(b *testing.B) {
				j := mustOpen(b, b.TempDir(), Options{SyncEachAppend: mode.each})
				defer j.Close()
				e := entry(1)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for range g {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := j.Append(e); err != nil {
								b.Error(err)
								return
							}
							if err := j.Sync(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
				b.ReportMetric(float64(j.fsyncs.Load())/float64(b.N), "fsyncs/entry")
			})
		}
	}
}
