package call_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// The benchmarks of RULES.md §7. The figures of record (B1, B2, B4, B5) are
// measured on the workload a signaling server has: every call between users
// who are in no other call (freshUsers), the default NewID, the Registry's
// user table growing and churning as users come and go. Ratios within one
// run are what count (B1, B4, B5), never absolute times. Run the samples
// one process after another, so that whatever else the machine does falls
// on every benchmark alike, and take the medians:
//
//	go test -c -o call.test ./call
//	for i in 1 2 3 4 5 6; do
//		./call.test -test.run '^$' -test.benchmem \
//			-test.bench 'Lifecycle$|Answer|LifecycleParallel$'
//	done | tee fast.txt
//	for i in 1 2 3; do
//		./call.test -test.run '^$' -test.benchmem -test.bench LifecycleAtLive \
//			-test.benchtime 3000000x
//	done | tee atlive.txt
//	for i in 1 2 3; do
//		./call.test -test.run '^$' -test.benchmem -test.bench BurstMillion \
//			-test.benchtime 1x -test.timeout 30m
//	done | tee burst.txt
//	benchstat fast.txt atlive.txt burst.txt

// userSeq numbers the users freshUsers hands out, so that none is handed
// out twice in a process.
var userSeq atomic.Int64

// freshUsers returns n user IDs never handed out before in this process,
// "u000000001" and on. They are formatted into one string and cut from it
// (one allocation, with nothing in it for the collector to scan), to be
// called with the timer stopped: the Registry sees a distinct user for
// each, and the benchmark does not time the formatting.
func freshUsers(n int) []string {
	const width = 10
	first := userSeq.Add(int64(n)) - int64(n)
	buf := make([]byte, 0, n*width)
	for i := range n {
		buf = fmt.Appendf(buf, "u%09d", first+int64(i)+1)
	}
	if len(buf) != n*width {
		panic("freshUsers: more than 10^9 users")
	}
	all := string(buf)
	u := make([]string, n)
	for i := range u {
		u[i] = all[i*width : (i+1)*width]
	}
	return u
}

// The benchmarks' users are what they claim: distinct from one call of
// freshUsers to the next, and IDs the Registry takes.
func TestFreshUsersAreDistinct(t *testing.T) {
	a, b := freshUsers(3), freshUsers(2)
	seen := map[string]bool{}
	for _, u := range append(a, b...) {
		if seen[u] {
			t.Fatalf("user %q handed out twice", u)
		}
		seen[u] = true
	}
	r := newBenchRegistryOpts(t, call.Options{Clock: clock.NewManual(t0)})
	if _, err := r.Invite(a[0], append(a[1:], b...), call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
}

// roundPairs is how many lifecycles (or other runs) a benchmark's timed
// loop runs on the users of one freshUsers call, made with the timer
// stopped.
const roundPairs = 1 << 15

// users is a pool of pre-made IDs for the benchmarks that are not figures
// of record, and for tests.
var users = func() []string {
	u := make([]string, 4096)
	for i := range u {
		u[i] = "user" + strconv.Itoa(i)
	}
	return u
}()

// preIDs returns n call IDs made in advance, and a NewID that hands them out.
func preIDs(n int) ([]string, func() string) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "c" + strconv.Itoa(i)
	}
	var next atomic.Int64
	return ids, func() string { return ids[next.Add(1)-1] }
}

// concurrentIDs returns a NewID that goroutines may call at once: c1, c2, …
func concurrentIDs() func() string {
	var n atomic.Int64
	return func() string { return "c" + strconv.FormatInt(n.Add(1), 10) }
}

// ringIDs returns a ring of n call IDs and a NewID that cycles through it:
// for lifecycles that end each call before the next begins, so that the
// IDs of calls that are over are reused (G11) and the benchmark keeps no
// garbage of its own for the collector to scan.
func ringIDs(n int) ([]string, func() string) {
	ids, _ := preIDs(n)
	next := -1
	return ids, func() string { next = (next + 1) % n; return ids[next] }
}

func newBenchRegistry(b *testing.B, clk *clock.Manual, newID func() string) *call.Registry {
	return newBenchRegistryOpts(b, call.Options{Clock: clk, NewID: newID})
}

func newBenchRegistryOpts(b testing.TB, o call.Options) *call.Registry {
	b.Helper()
	o.Sink = events.Discard
	r, err := call.NewRegistry(o)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// benchModes are the two Event.Members contracts: shared and kept (the
// default), and transient (Options.TransientMembers: valid during Emit,
// memory reused afterwards).
var benchModes = []struct {
	name      string
	transient bool
}{{"callsig", false}, {"callsig-transient", true}}

// B1: a 1-invitee invite + accept lifecycle, callsig (default options, and
// TransientMembers) and the baseline, each lifecycle between two users who
// were in no call before, with the default NewID.
func BenchmarkLifecycle(b *testing.B) {
	for _, m := range benchModes {
		b.Run("impl="+m.name, func(b *testing.B) {
			r := newBenchRegistryOpts(b, call.Options{Clock: clock.NewManual(t0), TransientMembers: m.transient})
			runLifecycles(b, lifecycleOn(r))
		})
	}
	b.Run("impl=baseline", func(b *testing.B) {
		base := newBaseline(clock.NewManual(t0), events.Discard)
		runLifecycles(b, func(caller, callee string) error {
			id, err := base.Invite(caller, []string{callee}, 30*time.Second)
			if err != nil {
				return err
			}
			return base.Accept(callee, id)
		})
	})
}

// A group call in advanced mode, every member online: the host invites
// three, each accepts, one ends it. Every event carries the members (A1),
// so this is where TransientMembers saves the most lists.
func BenchmarkGroupCall(b *testing.B) {
	for _, m := range benchModes {
		b.Run("impl="+m.name, func(b *testing.B) {
			group := groupCalls(b, m.transient)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				group()
			}
		})
	}
}

// groupCalls returns a function that runs one group call on a Registry of
// its own with 64 users online: host 4k invites 4k+1..4k+3 (k cycling through 16
// groups), each accepts, the first ends the call. The IDs and invitee
// lists are made beforehand, so what allocates is the Registry.
func groupCalls(tb testing.TB, transient bool) func() {
	ids, newID := ringIDs(4096)
	r := newBenchRegistryOpts(tb, call.Options{Clock: clock.NewManual(t0), NewID: newID, TransientMembers: transient})
	for _, u := range users[:64] {
		r.Login(u, "")
	}
	cfg := call.InviteConfig{Timeout: 30 * time.Second, Mode: events.Advanced}
	i := 0
	return func() {
		host, guests, id := users[4*(i%16)], users[4*(i%16)+1:4*(i%16)+4], ids[i%4096]
		if _, err := r.Invite(host, guests, cfg); err != nil {
			tb.Fatal(err)
		}
		for _, g := range guests {
			if err := r.Accept(g, id, call.AcceptConfig{}); err != nil {
				tb.Fatal(err)
			}
		}
		if err := r.End(guests[0], id, call.EndConfig{}); err != nil {
			tb.Fatal(err)
		}
		i++
	}
}

// A 9-invitee invite in which every invitee times out, among users in no
// other call, with the default NewID.
func BenchmarkTimeout9(b *testing.B) {
	b.Run("impl=callsig", func(b *testing.B) {
		clk := clock.NewManual(t0)
		r := newBenchRegistry(b, clk, nil)
		cfg := call.InviteConfig{Timeout: time.Second}
		runRounds(b, 10, func(u []string) error {
			_, err := r.Invite(u[0], u[1:], cfg)
			clk.Advance(time.Second)
			return err
		})
	})
	b.Run("impl=baseline", func(b *testing.B) {
		clk := clock.NewManual(t0)
		base := newBaseline(clk, events.Discard)
		runRounds(b, 10, func(u []string) error {
			_, err := base.Invite(u[0], u[1:], time.Second)
			clk.Advance(time.Second)
			return err
		})
	})
}

// B2: Accept, Reject and Cancel alone, on calls made beforehand between
// distinct users with the default NewID: rounds of answerRound calls, each
// round on a Registry made for it (untimed), so that what an answer costs
// does not depend on b.N through the number of calls live.
func BenchmarkAnswer(b *testing.B) {
	const answerRound = 100_000
	for _, op := range []string{"accept", "reject", "cancel"} {
		b.Run("op="+op, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(answerRound, b.N-done)
				b.StopTimer()
				answer := answerer(b, n)
				b.StartTimer()
				for i := range n {
					if err := answer(op, i); err != nil {
						b.Fatal(err)
					}
				}
				done += n
			}
		})
	}
}

// answerer makes n pending one-invitee calls with the default NewID, the
// i-th between two users in no other call, and returns a func that answers
// the i-th with op: "accept" or "reject" (by the invitee) or "cancel" (by
// the caller).
func answerer(tb testing.TB, n int) func(op string, i int) error {
	tb.Helper()
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: events.Discard})
	if err != nil {
		tb.Fatal(err)
	}
	u, ids := freshUsers(2*n), make([]string, n)
	for i := range n {
		invitees := [1]string{u[2*i+1]}
		res, err := r.Invite(u[2*i], invitees[:], call.InviteConfig{Timeout: time.Minute})
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = res.CallID
	}
	return func(op string, i int) error {
		switch op {
		case "accept":
			return r.Accept(u[2*i+1], ids[i], call.AcceptConfig{})
		case "reject":
			return r.Reject(u[2*i+1], ids[i], call.RejectConfig{})
		case "cancel":
			_, err := r.Cancel(u[2*i], ids[i], nil, call.CancelConfig{})
			return err
		}
		return fmt.Errorf("unknown op %q", op)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// B4: the lifecycle with 1,000 and with 1,000,000 other calls live, every
// call between distinct users, with the default NewID. The live calls are
// made once for all the runs of a sub-benchmark (untimed); each lifecycle
// ends its call, so as many stay live.
//
// Much of the difference between the two is the collector's, and it
// comes in cycles, each marking the million calls: a sample must span
// several (-test.benchtime 3000000x), or it measures where the one cycle
// it saw fell, not the steady state a server lives in. GCs is how many
// collections ran during a sample, the untimed making of its user IDs
// included.
func BenchmarkLifecycleAtLive(b *testing.B) {
	for _, m := range benchModes {
		for _, live := range []int{1_000, 1_000_000} {
			var r *call.Registry // made on the first run, dropped with the sub-benchmark
			b.Run(fmt.Sprintf("impl=%s/live=%d", m.name, live), func(b *testing.B) {
				if r == nil {
					r = registryWithLive(b, live, m.transient)
				}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				runLifecycles(b, lifecycleOn(r))
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

// registryWithLive returns a Registry holding live pending 1-invitee calls,
// each between two users in no other call, ringing for 10 minutes.
func registryWithLive(tb testing.TB, live int, transient bool) *call.Registry {
	r := newBenchRegistryOpts(tb, call.Options{Clock: clock.NewManual(t0), TransientMembers: transient})
	cfg := call.InviteConfig{Timeout: 10 * time.Minute}
	for done := 0; done < live; {
		n := min(roundPairs, live-done)
		u := freshUsers(2 * n)
		for i := range n {
			invitees := [1]string{u[2*i+1]}
			if _, err := r.Invite(u[2*i], invitees[:], cfg); err != nil {
				tb.Fatal(err)
			}
		}
		done += n
	}
	return r
}

// lifecycleOn returns one 1-invitee invite + accept lifecycle on r.
func lifecycleOn(r *call.Registry) func(caller, callee string) error {
	cfg := call.InviteConfig{Timeout: 30 * time.Second}
	return func(caller, callee string) error {
		invitees := [1]string{callee}
		res, err := r.Invite(caller, invitees[:], cfg)
		if err != nil {
			return err
		}
		return r.Accept(callee, res.CallID, call.AcceptConfig{})
	}
}

// runLifecycles times b.N lifecycles, each between two users never seen
// before.
func runLifecycles(b *testing.B, lifecycle func(caller, callee string) error) {
	runRounds(b, 2, func(u []string) error { return lifecycle(u[0], u[1]) })
}

// runRounds times b.N runs of op, each given per user IDs never handed out
// before, made roundPairs runs' worth at a time with the timer stopped.
func runRounds(b *testing.B, per int, op func(u []string) error) {
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(roundPairs, b.N-done)
		b.StopTimer()
		u := freshUsers(per * n)
		b.StartTimer()
		for i := range n {
			if err := op(u[per*i : per*(i+1) : per*(i+1)]); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
}

// B5: one Registry driven by one goroutine, and by two at once, with
// GOMAXPROCS the same for both (run without -cpu, on at least two cores).
// Throughput is 1/ns-per-op: B5 holds when goroutines=2's ns/op is at most
// goroutines=1's / 0.9. Both get the whole machine, the collector's
// workers included, so the ratio is what the second goroutine changes,
// and nothing else.
func BenchmarkLifecycleParallel(b *testing.B) {
	for _, m := range benchModes {
		for _, g := range []int{1, 2} {
			b.Run(fmt.Sprintf("impl=%s/goroutines=%d", m.name, g), func(b *testing.B) {
				r := newBenchRegistryOpts(b, call.Options{Clock: clock.NewManual(t0), TransientMembers: m.transient})
				runGoroutines(b, g, func(int) func() *call.Registry { return func() *call.Registry { return r } })
			})
		}
	}
}

// runGoroutines times b.N invite + accept lifecycles, each between two
// users never seen before, run by g goroutines at once, each its share of
// every round of roundPairs lifecycles (made with the timer stopped). ns/op
// is the wall time over all the lifecycles. Goroutine k calls pick(k) once,
// and runs each lifecycle on the Registry the function it got returns.
func runGoroutines(b *testing.B, g int, pick func(k int) func() *call.Registry) {
	if runtime.GOMAXPROCS(0) < g {
		b.Skipf("%d goroutines need GOMAXPROCS >= %d", g, g)
	}
	pickers := make([]func() *call.Registry, g)
	for k := range pickers {
		pickers[k] = pick(k)
	}
	cfg := call.InviteConfig{Timeout: 30 * time.Second}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(roundPairs, b.N-done)
		b.StopTimer()
		u := freshUsers(2 * n)
		b.StartTimer()
		var wg sync.WaitGroup
		for k := range g {
			wg.Go(func() {
				for i := k * n / g; i < (k+1)*n/g; i++ {
					r, caller, callee := pickers[k](), u[2*i], u[2*i+1]
					invitees := [1]string{callee}
					res, err := r.Invite(caller, invitees[:], cfg)
					if err == nil {
						err = r.Accept(callee, res.CallID, call.AcceptConfig{})
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		done += n
	}
}

// B5's ceiling: the same with a Registry per goroutine, so that nothing is
// shared but the process (allocator, collector, memory bus). What
// goroutines=2 gains over goroutines=1 is what a host gets by running a
// Registry per partition of its users, each on its own goroutines (see the
// package doc, "Cores").
func BenchmarkLifecycleParallelCeiling(b *testing.B) { registryPerGoroutine(b, false) }

// The ceiling's layout with one clock.Manual shared by the Registries:
// Manual keeps every timer of every Registry in one heap under one lock,
// and each lifecycle arms and stops its Registry's timer.
func BenchmarkLifecycleParallelSharedManual(b *testing.B) { registryPerGoroutine(b, true) }

// registryPerGoroutine runs the lifecycle from one and from two goroutines
// in both modes with a Registry per goroutine, each on a clock of its own
// or all on one.
func registryPerGoroutine(b *testing.B, oneClock bool) {
	for _, m := range benchModes {
		for _, g := range []int{1, 2} {
			b.Run(fmt.Sprintf("impl=%s/goroutines=%d", m.name, g), func(b *testing.B) {
				shared := clock.NewManual(t0)
				runGoroutines(b, g, func(int) func() *call.Registry {
					clk := shared
					if !oneClock {
						clk = clock.NewManual(t0)
					}
					r := newBenchRegistryOpts(b, call.Options{Clock: clk, TransientMembers: m.transient})
					return func() *call.Registry { return r }
				})
			})
		}
	}
}

// B5's ceiling for sharding by call: the lifecycle from two goroutines over
// n Registries that share nothing (each its own lock, clock, tables and
// user records), each lifecycle on one picked at random, as a hash of its
// call ID would pick it. Nothing a sharded Registry would have to share
// (the presence table, the journal's order, the clock's timer, the
// delivery queue) is in it; each shard does keep records of the users it
// has seen, as BENCHMARKS.md's design would. Compare with
// BenchmarkLifecycleParallel's goroutines=1.
func BenchmarkLifecycleParallelShards(b *testing.B) {
	for _, m := range benchModes {
		for _, n := range []int{2, 16, 64} {
			b.Run("impl="+m.name+"/shards="+strconv.Itoa(n), func(b *testing.B) {
				shards := make([]*call.Registry, n)
				for k := range shards {
					shards[k] = newBenchRegistryOpts(b, call.Options{Clock: clock.NewManual(t0), TransientMembers: m.transient})
				}
				runGoroutines(b, 2, func(k int) func() *call.Registry {
					x := uint32(k+1) * 0x9e3779b9 // xorshift32, one per goroutine
					return func() *call.Registry {
						x ^= x << 13
						x ^= x >> 17
						x ^= x << 5
						return shards[x%uint32(n)]
					}
				})
			})
		}
	}
}

// B2 as a test, so that a change which makes an answer allocate fails the
// suite rather than waiting for someone to read a benchmark: Accept, Reject
// and Cancel of a pending call allocate nothing (events.Discard as Sink).
func TestAnswersAllocateNothing(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a normal build")
	}
	for _, op := range []string{"accept", "reject", "cancel"} {
		t.Run(op, func(t *testing.T) {
			const runs = 2000
			answer := answerer(t, runs+1)
			i := 0
			allocs := testing.AllocsPerRun(runs, func() {
				if err := answer(op, i); err != nil {
					t.Fatal(err)
				}
				i++
			})
			if allocs != 0 {
				t.Fatalf("%s: %v allocations per call, want 0 (B2)", op, allocs)
			}
		})
	}
}

// With Options.TransientMembers a whole lifecycle allocates nothing once
// the Registry has warmed up: the call's record comes off the free list,
// the members list of its first events out of the arena (the invitee
// slices are the caller's, made beforehand).
func TestTransientLifecycleAllocatesNothing(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a normal build")
	}
	const runs = 4000
	ids, newID := ringIDs(4096)
	r := newBenchRegistryOpts(t, call.Options{Clock: clock.NewManual(t0), NewID: newID, TransientMembers: true})
	lists := make([][]string, 2048)
	for i := range lists {
		lists[i] = []string{users[2048+i]}
	}
	cfg := call.InviteConfig{Timeout: 30 * time.Second}
	i := 0
	lifecycle := func() {
		if _, err := r.Invite(users[i%2048], lists[i%2048], cfg); err != nil {
			t.Fatal(err)
		}
		if err := r.Accept(users[2048+i%2048], ids[i%4096], call.AcceptConfig{}); err != nil {
			t.Fatal(err)
		}
		i++
	}
	for range 2 * runs { // warm up: user records, free list, arena, queue
		lifecycle()
	}
	if allocs := testing.AllocsPerRun(runs, lifecycle); allocs != 0 {
		t.Fatalf("%v allocations per lifecycle with TransientMembers, want 0", allocs)
	}
}

// The same holds in advanced mode, where every event carries a copy of the
// members: a group call of four (invite three, each accepts, one ends it)
// allocates nothing with TransientMembers once warmed up, and its events'
// lists all come from the arena.
func TestTransientGroupCallAllocatesNothing(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a normal build")
	}
	const runs = 2000
	group := groupCalls(t, true)
	for range 2 * runs {
		group()
	}
	if allocs := testing.AllocsPerRun(runs, group); allocs != 0 {
		t.Fatalf("%v allocations per group call with TransientMembers, want 0", allocs)
	}
}
