package journal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callsig/callsig/call"
)

// syncModes are the two ways a Journal makes entries durable that the
// benchmarks compare: group commit (the default) and one fsync per entry.
var syncModes = []struct {
	name string
	each bool
}{{"group", false}, {"fsync-each", true}}

// spread runs b.N counts of work on g goroutines at once, timed: op(k)
// runs on goroutine k and does per counts of it. The first error stops
// that goroutine and fails the benchmark.
func spread(b *testing.B, g, per int, op func(k int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for k := range g {
		wg.Go(func() {
			for next.Add(int64(per)) <= int64(b.N+per-1) {
				if err := op(k); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

// BenchmarkAppendSync: goroutines each Append an entry and Sync it, as a
// host that acts on an input only once it is durable does, on a real file
// with fsync: group commit (the default) against one fsync per entry
// (SyncEachAppend). entries/s is the throughput of all goroutines together.
func BenchmarkAppendSync(b *testing.B) {
	for _, mode := range syncModes {
		for _, g := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode.name, g), func(b *testing.B) {
				j := mustOpen(b, b.TempDir(), Options{SyncEachAppend: mode.each})
				defer j.Close()
				e := entry(1)
				spread(b, g, 1, func(int) error {
					if err := j.Append(e); err != nil {
						return err
					}
					return j.Sync()
				})
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
	for _, mode := range syncModes {
		for _, g := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode.name, g), func(b *testing.B) {
				j := mustOpen(b, b.TempDir(), Options{SyncEachAppend: mode.each})
				defer j.Close()
				r, err := call.NewRegistry(call.Options{Journal: j})
				if err != nil {
					b.Fatal(err)
				}
				callers, callees := make([]string, g), make([][]string, g)
				for k := range g {
					callers[k], callees[k] = fmt.Sprintf("a%d", k), []string{fmt.Sprintf("b%d", k)}
				}
				spread(b, g, 2, func(k int) error {
					res, err := r.Invite(callers[k], callees[k], call.InviteConfig{})
					if err != nil {
						return err
					}
					_, err = r.Cancel(callers[k], res.CallID, nil, call.CancelConfig{})
					return err
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
				b.ReportMetric(float64(j.fsyncs.Load())/float64(b.N), "fsyncs/command")
			})
		}
	}
}
