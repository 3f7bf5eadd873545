package journal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callsig/callsig/call"
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

// BenchmarkRegistryCommands: commands per second through a Registry whose
// Journal is a *Journal on a real file (fsync), from 1, 4 and 16
// goroutines, each inviting and cancelling its own callee: group commit
// (the Registry waits for Sync outside its lock, so commands share
// fsyncs) against one fsync per input (SyncEachAppend, under the lock).
func BenchmarkRegistryCommands(b *testing.B) {
	for _, mode := range []struct {
		name string
		each bool
	}{{"group", false}, {"fsync-each", true}} {
		for _, g := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode.name, g), func(b *testing.B) {
				j := mustOpen(b, b.TempDir(), Options{SyncEachAppend: mode.each})
				defer j.Close()
				r, err := call.NewRegistry(call.Options{Journal: j})
				if err != nil {
					b.Fatal(err)
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for k := range g {
					wg.Go(func() {
						caller, callee := fmt.Sprintf("a%d", k), []string{fmt.Sprintf("b%d", k)}
						for next.Add(2) <= int64(b.N)+1 {
							res, err := r.Invite(caller, callee, call.InviteConfig{})
							if err != nil {
								b.Error(err)
								return
							}
							if _, err := r.Cancel(caller, res.CallID, nil, call.CancelConfig{}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
				b.ReportMetric(float64(j.fsyncs.Load())/float64(b.N), "fsyncs/command")
			})
		}
	}
}
