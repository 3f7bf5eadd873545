package call_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
)

// B3 on the workload a signaling server has: a million pending calls
// between users who are in no other call, the default NewID, every user's
// record, the indexes and the timers counted. The user IDs are the host's
// strings, made before the first reading; the call IDs are the Registry's
// own and count. Reproduce the figures with
//
//	go test ./call -run '^$' -bench PendingHeapDistinct -benchtime 1x -count 3
func BenchmarkPendingHeapDistinct(b *testing.B) {
	for _, n := range []int{1, 9} {
		for _, online := range []bool{false, true} {
			b.Run(fmt.Sprintf("invitees=%d/online=%v", n, online), func(b *testing.B) {
				for range b.N {
					b.ReportMetric(pendingHeap(b, 1_000_000, n, online), "B/call")
				}
			})
		}
	}
}

// TestPendingCallMemory checks B3: a pending 1-invitee call between two
// users in no other call costs at most 512 bytes, a 9-invitee one at most
// 2 KiB, with a million calls live (the 9-invitee case with a tenth as
// many, ten million users being more than a test should make), whether
// the users are offline or all logged in on the default device.
func TestPendingCallMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a million calls")
	}
	for _, c := range []struct {
		calls, invitees int
		online          bool
		max             float64
	}{
		{1_000_000, 1, false, 512},
		{100_000, 9, false, 2048},
		{1_000_000, 1, true, 512},
		{100_000, 9, true, 2048},
	} {
		got := pendingHeap(t, c.calls, c.invitees, c.online)
		t.Logf("%d pending %d-invitee calls, online %v: %.0f B/call", c.calls, c.invitees, c.online, got)
		if got > c.max {
			t.Errorf("%d pending %d-invitee calls, online %v: %.0f bytes per call, at most %.0f (B3)", c.calls, c.invitees, c.online, got, c.max)
		}
	}
}

// pendingHeap returns the heap per call that calls pending calls of n
// invitees each take, every member a user of its own ("u%07d"), all logged
// in with the device "" when online is set.
func pendingHeap(tb testing.TB, calls, n int, online bool) float64 {
	tb.Helper()
	ids := make([]string, calls*(1+n))
	for i := range ids {
		ids[i] = fmt.Sprintf("u%07d", i)
	}
	clk := clock.NewManual(t0)
	before := heapInUse()
	r := newBenchRegistryOpts(tb, call.Options{Clock: clk})
	cfg := call.InviteConfig{Timeout: time.Minute}
	for i := range calls {
		members := ids[i*(1+n) : (i+1)*(1+n)]
		if online {
			for _, u := range members {
				r.Login(u, "")
			}
		}
		if _, err := r.Invite(members[0], members[1:], cfg); err != nil {
			tb.Fatal(err)
		}
	}
	after := heapInUse()
	if r.Len() != calls {
		tb.Fatalf("%d calls live, want %d", r.Len(), calls)
	}
	runtime.KeepAlive(r)
	runtime.KeepAlive(ids)
	return float64(after-before) / float64(calls)
}
