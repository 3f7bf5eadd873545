package call_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// The presence benchmarks: what every WebSocket connection of a server
// costs, a Login when it opens and a Logout when it closes, on the same
// workload as the figures of record (bench_test.go): every user never seen
// before, the default NewID, events.Discard, clock.Manual. None is a
// target of RULES.md §7; BENCHMARKS.md has their figures. Run as the
// others, one process a sample:
//
//	go test -c -o call.test ./call
//	for i in 1 2 3 4 5 6; do
//		./call.test -test.run '^$' -test.benchmem \
//			-test.bench 'LoginLogout|LogoutCancels'
//	done | tee presence.txt

// presenceRound is how many invitations the benchmarks that need one per
// run make at a time, untimed, before timing the runs that use them; they
// are done with (cancelled, their callers logged out) before the next
// round, so that the calls live during a run are the Registry's own and
// at most presenceRound more, whatever b.N.
const presenceRound = 1024

// A connection's life with no calls: a user never seen before logs in and
// out again, on the default device (which needs no user record, B3) and
// on a named one (which does).
func BenchmarkLoginLogout(b *testing.B) {
	for _, device := range []string{"", "phone"} {
		b.Run("device="+deviceName(device), func(b *testing.B) {
			r := newBenchRegistryOpts(b, call.Options{Clock: clock.NewManual(t0)})
			runRounds(b, 1, loginLogout(r, device))
		})
	}
}

// The offline invitee's connection: a user with a pending invitation from
// a caller who is online logs in, on the default device, which rings the
// invitation on it (G8: InvitationReceived with ToDevice, the invitee now
// Received), and logs out again; the call rings on. The invitations are
// made in rounds (invitedRounds), untimed.
func BenchmarkLoginLogoutInvited(b *testing.B) {
	r := newBenchRegistryOpts(b, call.Options{Clock: clock.NewManual(t0)})
	invitedRounds(b, r, 0)
}

// G7, the caller drops: an online caller with an unanswered one-invitee
// call logs out (its last device, the default one), which cancels the
// call (InvitationCancelled, Reason CallerOffline, to the invitee) and
// ends it. Only the Logout is timed; the Login and Invite before it are
// made in rounds, untimed.
func BenchmarkLogoutCancels(b *testing.B) {
	r := newBenchRegistryOpts(b, call.Options{Clock: clock.NewManual(t0)})
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(presenceRound, b.N-done)
		b.StopTimer()
		u := freshUsers(2 * n)
		ringFromOnlineCallers(b, r, u, nil)
		b.StartTimer()
		for i := range n {
			if err := r.Logout(u[2*i], ""); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	b.StopTimer()
	if r.Len() != 0 {
		b.Fatalf("%d calls live after the callers left, want 0 (G7)", r.Len())
	}
}

// B4's scaling, for presence: BenchmarkLoginLogout on the default device
// and BenchmarkLoginLogoutInvited, with 1,000 and 1,000,000 other calls
// live (registryWithLive: pending one-invitee calls between users in no
// other call), made once for all the runs of a sub-benchmark, untimed.
// GCs is how many collections ran during a sample, its untimed rounds
// included (see BenchmarkLifecycleAtLive).
func BenchmarkLoginLogoutAtLive(b *testing.B) {
	for _, live := range []int{1_000, 1_000_000} {
		for _, op := range []string{"default", "invited"} {
			var r *call.Registry // made on the first run, dropped with the sub-benchmark
			b.Run(fmt.Sprintf("op=%s/live=%d", op, live), func(b *testing.B) {
				if r == nil {
					r = registryWithLive(b, live, false)
				}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if op == "default" {
					runRounds(b, 1, loginLogout(r, ""))
				} else {
					invitedRounds(b, r, live)
				}
				b.StopTimer()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.NumGC-before.NumGC), "GCs")
				if r.Len() != live {
					b.Fatalf("%d calls live, want %d", r.Len(), live)
				}
			})
		}
	}
}

func deviceName(device string) string {
	if device == "" {
		return "default"
	}
	return device
}

// loginLogout returns one connection's life on r: u[0] logs in on device
// and out again.
func loginLogout(r *call.Registry, device string) func(u []string) error {
	return func(u []string) error {
		if err := r.Login(u[0], device); err != nil {
			return err
		}
		return r.Logout(u[0], device)
	}
}

// invitedRounds times b.N logins and logouts of offline invitees on r,
// which holds live other calls: in rounds of presenceRound, each made
// untimed (a caller never seen before logs in and invites an invitee never
// seen before) and done with untimed (the caller cancels, then logs out).
func invitedRounds(b *testing.B, r *call.Registry, live int) {
	ids := make([]string, presenceRound)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(presenceRound, b.N-done)
		b.StopTimer()
		u := freshUsers(2 * n)
		ringFromOnlineCallers(b, r, u, ids)
		b.StartTimer()
		for i := range n {
			if err := loginLogoutInvitee(r, u[2*i+1]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		for i := range n {
			if _, err := r.Cancel(u[2*i], ids[i], nil, call.CancelConfig{}); err != nil {
				b.Fatal(err)
			}
			if err := r.Logout(u[2*i], ""); err != nil {
				b.Fatal(err)
			}
		}
		if r.Len() != live {
			b.Fatalf("%d calls live between rounds, want %d", r.Len(), live)
		}
		b.StartTimer()
		done += n
	}
}

// ringFromOnlineCallers pairs the users of u: the first of each pair logs
// in on the default device and invites the second, offline, for ten
// minutes. The i-th call's ID goes to ids[i], if ids is not nil.
func ringFromOnlineCallers(b *testing.B, r *call.Registry, u []string, ids []string) {
	cfg := call.InviteConfig{Timeout: 10 * time.Minute}
	for i := range len(u) / 2 {
		if err := r.Login(u[2*i], ""); err != nil {
			b.Fatal(err)
		}
		invitees := [1]string{u[2*i+1]}
		res, err := r.Invite(u[2*i], invitees[:], cfg)
		if err != nil {
			b.Fatal(err)
		}
		if ids != nil {
			ids[i] = res.CallID
		}
	}
}

func loginLogoutInvitee(r *call.Registry, invitee string) error {
	if err := r.Login(invitee, ""); err != nil {
		return err
	}
	return r.Logout(invitee, "")
}

// The presence benchmarks' workloads do what they say: the invitee's Login
// rings its invitation (G8), its Logout sends nothing and the call rings
// on; the caller's Logout cancels the call (G7).
func TestPresenceBenchWorkloads(t *testing.T) {
	var rec events.Recorder
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: &rec})
	if err != nil {
		t.Fatal(err)
	}
	u := freshUsers(2)
	if err := r.Login(u[0], ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite(u[0], u[1:], call.InviteConfig{Timeout: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	if err := loginLogoutInvitee(r, u[1]); err != nil {
		t.Fatal(err)
	}
	got := rec.Take()
	if len(got) != 1 || got[0].Kind != events.InvitationReceived || got[0].To != u[1] || got[0].Offline || r.Len() != 1 {
		t.Fatalf("invitee's login and logout: %d calls live, events %+v; want one InvitationReceived to %s online, the call live", r.Len(), got, u[1])
	}
	if err := r.Logout(u[0], ""); err != nil {
		t.Fatal(err)
	}
	got = rec.Take()
	if len(got) != 1 || got[0].Kind != events.InvitationCancelled || got[0].Reason != events.ReasonCallerOffline || r.Len() != 0 {
		t.Fatalf("caller's logout: %d calls live, events %+v; want one InvitationCancelled, CallerOffline, no call", r.Len(), got)
	}
}

// A connection's life with no calls allocates nothing once the Registry
// has warmed up, on the default device (no user record) and on a named
// one (a record off the free list, with the devices array it kept), each
// Login and Logout of a user never seen before.
func TestLoginLogoutAllocatesNothing(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a normal build")
	}
	for _, device := range []string{"", "phone"} {
		t.Run("device="+deviceName(device), func(t *testing.T) {
			const runs = 2000
			r := newBenchRegistryOpts(t, call.Options{Clock: clock.NewManual(t0)})
			u := freshUsers(2*runs + 1)
			life := loginLogout(r, device)
			i := 0
			run := func() {
				if err := life(u[i : i+1]); err != nil {
					t.Fatal(err)
				}
				i++
			}
			for range runs { // warm up: the user table, the free list
				run()
			}
			if allocs := testing.AllocsPerRun(runs, run); allocs != 0 {
				t.Fatalf("%v allocations per Login + Logout, want 0", allocs)
			}
		})
	}
}
