package call_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// B6: Snapshot and Restore of 1,000,000 pending 1-invitee calls between
// distinct users, default options and the default NewID, each within 3 s,
// and an input arriving during Snapshot waits at most 0.5 s. Run with
//
//	go test ./call -run '^$' -bench 'Snapshot1M|Restore1M' -benchtime 1x -count 3

// snapCalls is the number of calls B6 is measured at.
const snapCalls = 1_000_000

// pendingRegistry returns a Registry holding n pending 1-invitee calls, the
// i-th from user 2i to user 2i+1 ("u%07d"), neither of them online.
func pendingRegistry(tb testing.TB, n int) *call.Registry {
	tb.Helper()
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: events.Discard})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if _, err := r.Invite(fmt.Sprintf("u%07d", 2*i), []string{fmt.Sprintf("u%07d", 2*i+1)}, call.InviteConfig{}); err != nil {
			tb.Fatal(err)
		}
	}
	return r
}

// BenchmarkSnapshot1M: B6, Snapshot at 1,000,000 pending calls. The worst
// wait of a Login made from another goroutine, again and again while the
// Snapshot runs, is reported as wait-s.
func BenchmarkSnapshot1M(b *testing.B) {
	r := pendingRegistry(b, snapCalls)
	runtime.GC()
	var worst time.Duration
	for b.Loop() {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var w time.Duration
		wg.Go(func() { w = worstWait(r, stop) })
		snap, err := r.Snapshot()
		close(stop)
		wg.Wait()
		if err != nil || len(snap) == 0 {
			b.Fatal(err)
		}
		worst = max(worst, w)
	}
	b.ReportMetric(worst.Seconds(), "wait-s")
}

// worstWait logs a device in and out again and again until stop is closed,
// and returns the longest any one of those inputs took.
func worstWait(r *call.Registry, stop <-chan struct{}) time.Duration {
	var worst time.Duration
	for i := 0; ; i++ {
		select {
		case <-stop:
			return worst
		default:
		}
		start := time.Now()
		if i%2 == 0 {
			r.Login("waiter", "")
		} else {
			r.Logout("waiter", "")
		}
		worst = max(worst, time.Since(start))
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkRestore1M: B6, Restore of a snapshot of 1,000,000 pending
// calls.
func BenchmarkRestore1M(b *testing.B) {
	snap, err := pendingRegistry(b, snapCalls).Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.SetBytes(int64(len(snap)))
	for b.Loop() {
		r, err := call.Restore(snap, call.Options{Clock: clock.NewManual(t0)})
		if err != nil || r.Len() != snapCalls {
			b.Fatal(err)
		}
	}
}
