package call_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestDeliveryUnderFaults drives one Registry from several goroutines and
// the clock's timer at once, with a Sink that calls the Registry from
// inside Emit (commands and queries), panics now and then, and now and then
// ends its goroutine (runtime.Goexit); a Journal that panics now and then;
// bursts sliced to one, two or three events; with and without
// TransientMembers. Once the inputs stop and nothing waits for the Sink,
// every event of every input that took effect reached the Sink exactly
// once, or was the one a fault was raised on, call by call in Seq order
// and equal to what a replay of the journal emits, and the replay reaches
// the same state (C2, C3, C6, D1); Emit never ran twice at once for one
// call.
func TestDeliveryUnderFaults(t *testing.T) {
	for _, transient := range []bool{false, true} {
		for slice := 1; slice <= 3; slice++ {
			t.Run(fmt.Sprintf("TransientMembers=%v/slice=%d", transient, slice), func(t *testing.T) {
				defer call.SetSliceEvents(slice)()
				deliveryUnderFaults(t, transient, uint64(slice))
			})
		}
	}
}

// eventText is an event as the comparison sees it: every field, the Push
// by value.
func eventText(e events.Event) string {
	push := "-"
	if e.Push != nil {
		push = fmt.Sprint(*e.Push)
	}
	return fmt.Sprintf("%s %d %s to=%s/%s off=%v at=%v mode=%v caller=%s from=%s/%s data=%q push=%s dl=%v reason=%v members=%v",
		e.CallID, e.Seq, e.Kind, e.To, e.ToDevice, e.Offline, e.At.UnixNano(), e.Mode, e.Caller, e.From, e.Device, e.Data,
		push, e.Deadline.UnixNano(), e.Reason, e.Members)
}

// runGuarded runs f on a goroutine of its own and waits for it, so that a
// panic or runtime.Goexit that f meets ends that goroutine only; it reports
// whether f returned.
func runGuarded(f func()) (returned bool) {
	done := make(chan bool)
	go func() {
		ok := false
		defer func() {
			_ = recover()
			done <- ok
		}()
		f()
		ok = true
	}()
	return <-done
}

func deliveryUnderFaults(t *testing.T, transient bool, seed uint64) {
	const (
		workers = 4
		users   = 24
		run     = 250 * time.Millisecond
	)
	userName := func(i int) string { return fmt.Sprint("u", i%users) }
	var (
		mu        sync.Mutex
		delivered = map[string][]string{} // by call: the events Emit got, in order
		faulted   = map[string][]string{} // by call: the events a fault was raised on
		inside    = map[string]bool{}
		journal   []call.Entry
		reg       *call.Registry
		faults    atomic.Int64
		calm      atomic.Bool // the run is over: no more faults, nor nested calls
		nestedN   atomic.Int64
	)
	// One source per goroutine that decides: the Sink's runs on whichever
	// goroutine delivers, so it takes its own lock.
	var sinkRandMu sync.Mutex
	sinkRand := rand.New(rand.NewPCG(seed, 1))
	roll := func(n int) int {
		sinkRandMu.Lock()
		defer sinkRandMu.Unlock()
		return sinkRand.IntN(n)
	}
	sink := events.SinkFunc(func(e events.Event) {
		text := eventText(e)
		mu.Lock()
		if inside[e.CallID] {
			t.Errorf("Emit for call %s entered twice at once", e.CallID)
		}
		inside[e.CallID] = true
		mu.Unlock()
		leave := func(to map[string][]string) {
			mu.Lock()
			to[e.CallID] = append(to[e.CallID], text)
			inside[e.CallID] = false
			mu.Unlock()
		}
		r := roll(200)
		if calm.Load() {
			r = 200
		}
		switch {
		case r < 5:
			faults.Add(1)
			leave(faulted)
			panic("host Sink panicked")
		case r < 6:
			faults.Add(1)
			leave(faulted)
			runtime.Goexit()
		case r < 40:
			leave(delivered)
			nestedN.Add(1)
			switch r % 7 {
			case 0:
				_ = reg.Accept(e.To, e.CallID, call.AcceptConfig{ExtendedData: "nested"})
			case 1:
				_ = reg.Reject(e.To, e.CallID, call.RejectConfig{})
			case 2:
				_, _ = reg.Invite(e.To, []string{userName(r)}, call.InviteConfig{Timeout: time.Duration(1+r%3) * time.Second})
			case 3:
				_, _ = reg.Snapshot()
			case 4:
				_ = reg.Backlog()
				_, _ = reg.Call(e.CallID)
			case 5:
				reg.Logout(e.To, "")
			case 6:
				reg.Login(e.To, "")
			}
		default:
			leave(delivered)
		}
	})
	var journalRandMu sync.Mutex
	journalRand := rand.New(rand.NewPCG(seed, 2))
	j := call.JournalFunc(func(e call.Entry) error {
		journalRandMu.Lock()
		r := journalRand.IntN(100)
		journalRandMu.Unlock()
		if r == 0 && !calm.Load() {
			panic("host Journal panicked")
		}
		mu.Lock()
		journal = append(journal, e)
		mu.Unlock()
		return nil
	})
	clk := clock.NewManual(t0)
	o := call.Options{Clock: clk, Sink: sink, Journal: j, NewID: concurrentIDs(), TransientMembers: transient, MaxBacklog: 64}
	var err error
	if reg, err = call.NewRegistry(o); err != nil {
		t.Fatal(err)
	}

	stop := time.Now().Add(run)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(seed, uint64(10+w)))
			var ids []string
			for time.Now().Before(stop) {
				a, b, c := userName(rnd.IntN(users)), userName(rnd.IntN(users)), userName(rnd.IntN(users))
				var id string
				if len(ids) > 0 {
					id = ids[rnd.IntN(len(ids))]
				}
				runGuarded(func() {
					var err error
					switch rnd.IntN(9) {
					case 0, 1:
						var res call.InviteResult
						mode := events.General
						if rnd.IntN(3) == 0 {
							mode = events.Advanced
						}
						res, err = reg.Invite(a, []string{b, c}, call.InviteConfig{Timeout: time.Duration(1+rnd.IntN(4)) * time.Second, Mode: mode})
						if err == nil {
							ids = append(ids, res.CallID)
						}
					case 2:
						err = reg.Accept(b, id, call.AcceptConfig{})
					case 3:
						err = reg.Reject(b, id, call.RejectConfig{})
					case 4:
						_, err = reg.Cancel(a, id, nil, call.CancelConfig{})
					case 5:
						reg.Login(a, "")
					case 6:
						reg.Logout(a, "")
					case 7:
						_, err = reg.Join(a, id, call.JoinConfig{})
					case 8:
						err = reg.End(a, id, call.EndConfig{})
					}
					if errors.Is(err, call.ErrOverloaded) {
						runtime.Gosched()
					}
				})
				if len(ids) > 64 {
					ids = ids[32:]
				}
			}
		})
	}
	wg.Go(func() { // the clock: its timer's input processes bursts
		for time.Now().Before(stop) {
			runGuarded(func() { clk.Advance(time.Second) })
			time.Sleep(time.Millisecond)
		}
	})
	idle := make(chan struct{})
	go func() { wg.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-time.After(10 * time.Second):
		t.Fatal("inputs still under way 10 s after they stopped: delivery is wedged")
	}
	// What a fault left due (the timer tries again a second on) falls due
	// once more, so that the Registry has processed every journaled
	// passing of time, as the replay does.
	calm.Store(true)
	clk.Advance(2 * time.Second)
	for deadline := time.Now().Add(5 * time.Second); reg.Backlog() > 0; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("events still wait for the Sink 5 s after inputs stopped: Backlog %d", reg.Backlog())
		}
	}

	// The replay emits every event of every journaled input, once.
	mu.Lock()
	defer mu.Unlock()
	replayed := map[string][]string{}
	o.Journal, o.Clock = nil, clock.NewManual(t0)
	o.Sink = events.SinkFunc(func(e events.Event) { replayed[e.CallID] = append(replayed[e.CallID], eventText(e)) })
	rec, err := call.Recover(nil, journal, o)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := snapshotOf(t, reg), snapshotOf(t, rec); a != b {
		t.Fatalf("the replay's state differs:\n%s\nwant\n%s", b, a)
	}
	n := 0
	for id, want := range replayed {
		n += len(want)
		got := delivered[id]
		all := slices.Concat(got, faulted[id])
		slices.SortFunc(all, func(x, y string) int { return seqOf(x) - seqOf(y) })
		if !slices.Equal(all, want) {
			t.Fatalf("call %s: the Sink got\n%v\nand faulted on\n%v\nwant\n%v", id, got, faulted[id], want)
		}
		if !slices.IsSortedFunc(got, func(x, y string) int { return seqOf(x) - seqOf(y) }) {
			t.Fatalf("call %s: out of Seq order: %v", id, got)
		}
	}
	for id := range delivered {
		if _, ok := replayed[id]; !ok {
			t.Fatalf("call %s reached the Sink, and not the replay: %v", id, delivered[id])
		}
	}
	t.Logf("%d events, %d faults, %d nested calls, %d journal entries", n, faults.Load(), nestedN.Load(), len(journal))
}

// seqOf reads the Seq out of an eventText.
func seqOf(text string) int {
	var id string
	var seq int
	_, _ = fmt.Sscan(text, &id, &seq)
	return seq
}
