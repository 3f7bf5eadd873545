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

// spread runs op(i) for each i in [0, n) on g goroutines at once, each i
// on whichever goroutine takes it next, and returns when all have run.
// The first error stops that goroutine and fails the benchmark.
func spread(b *testing.B, g, n int, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// userSeq numbers the users freshUsers hands out.
var userSeq atomic.Int64

// freshUsers returns n user IDs no earlier call handed out.
func freshUsers(n int) []string {
	first := userSeq.Add(int64(n)) - int64(n)
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprint("u", first+int64(i)+1)
	}
	return u
}

// roundLifecycles is how many lifecycles BenchmarkRegistryCommands runs on
// the users of one freshUsers call, made with the timer stopped.
const roundLifecycles = 1 << 14

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
				b.ResetTimer()
				spread(b, g, b.N, func(int) error {
					if err := j.Append(e); err != nil {
						return err
					}
					return j.Sync()
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
				b.ReportMetric(float64(j.fsyncs.Load())/float64(b.N), "fsyncs/entry")
			})
		}
	}
}

// BenchmarkRegistryCommands: commands per second through a Registry whose
// Journal is a *Journal on a real file (fsync), from 1, 4 and 16
// goroutines, each command of a lifecycle (an invite and its cancel)
// between two users never seen before, as a server's are (RULES.md §7),
// made with the timer stopped: group commit (the Registry waits for Sync
// outside its lock, so commands share fsyncs) against one fsync per input
// (SyncEachAppend, under the lock).
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
				b.ResetTimer()
				done := 0 // commands run: b.N, or one more when b.N is odd (two a lifecycle)
				for done < b.N {
					n := min(roundLifecycles, (b.N-done+1)/2)
					b.StopTimer()
					u := freshUsers(2 * n)
					b.StartTimer()
					spread(b, g, n, func(i int) error {
						caller, callee := u[2*i], u[2*i+1:2*i+2:2*i+2]
						res, err := r.Invite(caller, callee, call.InviteConfig{})
						if err != nil {
							return err
						}
						_, err = r.Cancel(caller, res.CallID, nil, call.CancelConfig{})
						return err
					})
					if b.Failed() {
						b.FailNow()
					}
					done += 2 * n
				}
				b.StopTimer()
				b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "commands/s")
				b.ReportMetric(float64(j.fsyncs.Load())/float64(done), "fsyncs/command")
			})
		}
	}
}
