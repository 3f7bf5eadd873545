package call_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestConcurrentPoliciesReplay: goroutines drive one Registry with every
// input — both modes, presence, heartbeats, Replay — under the host
// policies H2, H3, H5, H6 and H8, while the clock moves and the Sink makes
// inputs from inside Emit (TestDeliveryUnderFaults does the same with
// faults, fewer inputs and no policy). Afterwards the journal, replayed, emits each call's events as the
// Registry delivered them and reaches the same state (C1, C2, D1).
func TestConcurrentPoliciesReplay(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { concurrentPolicies(t, seed) })
	}
}

func concurrentPolicies(t *testing.T, seed uint64) {
	const users = 8
	name := func(i int) string { return fmt.Sprint("u", i) }
	var (
		mu        sync.Mutex
		journal   []call.Entry
		delivered = map[string][]string{}
		reg       *call.Registry
	)
	var nestRand = rand.New(rand.NewPCG(seed, 99))
	var nestMu sync.Mutex
	sink := events.SinkFunc(func(e events.Event) {
		mu.Lock()
		delivered[e.CallID] = append(delivered[e.CallID], eventText(e))
		mu.Unlock()
		nestMu.Lock()
		r := nestRand.IntN(20)
		nestMu.Unlock()
		switch r {
		case 0:
			_ = reg.Accept(e.To, e.CallID, call.AcceptConfig{})
		case 1:
			_ = reg.Heartbeat(e.To, "")
		case 2:
			_ = reg.Replay(e.To, "")
		case 3:
			_ = reg.Quit(e.To, e.CallID, call.QuitConfig{})
		}
	})
	j := call.JournalFunc(func(e call.Entry) error {
		mu.Lock()
		journal = append(journal, e)
		mu.Unlock()
		return nil
	})
	clk := clock.NewManual(t0)
	o := call.Options{Clock: clk, Sink: sink, Journal: j, NewID: concurrentIDs(), Busy: call.BusyInCall, Glare: call.GlareMerge,
		HeartbeatTimeout: 3 * time.Second, NotReceivedAfter: time.Second, History: 3, MaxInvitees: 3}
	var err error
	if reg, err = call.NewRegistry(o); err != nil {
		t.Fatal(err)
	}
	stop := time.Now().Add(700 * time.Millisecond)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(seed, uint64(10+w)))
			var ids []string
			for time.Now().Before(stop) {
				a, b := name(rnd.IntN(users)), name(rnd.IntN(users))
				dev := fmt.Sprint("d", rnd.IntN(2))
				var id string
				if len(ids) > 0 {
					id = ids[rnd.IntN(len(ids))]
				}
				switch rnd.IntN(13) {
				case 0, 1:
					res, err := reg.Invite(a, []string{b}, call.InviteConfig{Timeout: time.Duration(1+rnd.IntN(4)) * time.Second, Mode: events.Mode(rnd.IntN(2))})
					if err == nil {
						ids = append(ids, res.CallID)
					}
				case 2:
					_ = reg.Accept(b, id, call.AcceptConfig{Device: dev})
				case 3:
					_ = reg.Reject(b, id, call.RejectConfig{})
				case 4:
					_, _ = reg.Cancel(a, id, nil, call.CancelConfig{})
				case 5:
					_ = reg.Login(a, dev)
				case 6:
					_ = reg.Logout(a, dev)
				case 7:
					_ = reg.Heartbeat(a, dev)
				case 8:
					_ = reg.Replay(a, dev)
				case 9:
					_, _ = reg.CallingInvite(a, id, []string{b}, call.CallingInviteConfig{})
				case 10:
					_, _ = reg.Join(a, id, call.JoinConfig{})
				case 11:
					_ = reg.Quit(a, id, call.QuitConfig{})
				case 12:
					_ = reg.End(a, id, call.EndConfig{})
				}
				if len(ids) > 32 {
					ids = ids[16:]
				}
			}
		})
	}
	wg.Go(func() {
		for time.Now().Before(stop) {
			clk.Advance(250 * time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	for deadline := time.Now().Add(5 * time.Second); reg.Backlog() > 0; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Backlog %d 5 s after inputs stopped", reg.Backlog())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	replayed := map[string][]string{}
	ro := o
	ro.Journal, ro.Clock = nil, clock.NewManual(t0)
	ro.Sink = events.SinkFunc(func(e events.Event) { replayed[e.CallID] = append(replayed[e.CallID], eventText(e)) })
	rec, err := call.Recover(nil, journal, ro)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for id, want := range delivered {
		got := replayed[id]
		if !slices.Equal(want, got) {
			t.Fatalf("call %s: delivered %d events, the replay %d\ndelivered %q\nreplayed %q", id, len(want), len(got), want, got)
		}
		n += len(want)
	}
	if len(replayed) != len(delivered) {
		t.Fatalf("%d calls delivered, %d replayed", len(delivered), len(replayed))
	}
	ws, _ := reg.Snapshot()
	gs, _ := rec.Snapshot()
	if string(withoutLast(ws)) != string(withoutLast(gs)) {
		t.Fatalf("state differs:\n%s\n%s", ws, gs)
	}
	t.Logf("%d entries, %d events, %d calls", len(journal), n, len(delivered))
}
