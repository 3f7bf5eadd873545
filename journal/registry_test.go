package journal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

var start = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// counterIDs makes call IDs c1, c2, … safe for concurrent use.
func counterIDs() func() string {
	var n atomic.Uint64
	return func() string { return fmt.Sprintf("c%d", n.Add(1)) }
}

var users = []string{"ann", "ben", "cat", "dan", "eve", "fay"}

// randomCommand runs one random input against r; it returns the command's
// name, the call it named, and its error.
func randomCommand(rng *rand.Rand, r *call.Registry) (op, callID string, err error) {
	u := users[rng.IntN(len(users))]
	id := fmt.Sprintf("c%d", 1+rng.IntN(40))
	pick := func() []string {
		var l []string
		for _, v := range users {
			if v != u && rng.IntN(3) == 0 {
				l = append(l, v)
			}
		}
		if len(l) == 0 {
			l = append(l, users[(1+rng.IntN(len(users)-1)+indexOf(u))%len(users)])
		}
		return l
	}
	switch rng.IntN(12) {
	case 0:
		r.Login(u, "")
		return "login", "", nil
	case 1:
		r.Logout(u, "")
		return "logout", "", nil
	case 2:
		r.Heartbeat(u, "")
		return "heartbeat", "", nil
	case 3, 4, 5:
		res, err := r.Invite(u, pick(), call.InviteConfig{Mode: events.Mode(rng.IntN(2)), Timeout: time.Duration(1+rng.IntN(4)) * time.Second})
		return "invite", res.CallID, err
	case 6:
		return "accept", id, r.Accept(u, id, call.AcceptConfig{})
	case 7:
		return "reject", id, r.Reject(u, id, call.RejectConfig{})
	case 8:
		_, err := r.Cancel(u, id, nil, call.CancelConfig{})
		return "cancel", id, err
	case 9:
		_, err := r.Join(u, id, call.JoinConfig{})
		return "join", id, err
	case 10:
		return "quit", id, r.Quit(u, id, call.QuitConfig{})
	default:
		return "end", id, r.End(u, id, call.EndConfig{})
	}
}

func indexOf(u string) int {
	for i, v := range users {
		if v == u {
			return i
		}
	}
	return 0
}

// TestCheckpointUnderLoad: checkpoints taken while goroutines run commands
// and the clock's timer fires cut the journal safely: recovering from the
// directory reaches the live Registry's state, byte for byte.
func TestCheckpointUnderLoad(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{SegmentSize: 2048})
	clk := clock.NewManual(start)
	o := call.Options{Clock: clk, NewID: counterIDs(), HeartbeatTimeout: 3 * time.Second, History: 1000}
	lo := o
	lo.Journal = j
	r, err := call.NewRegistry(lo)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // the timer fires as the clock moves
		for {
			select {
			case <-stop:
				return
			default:
				clk.Advance(50 * time.Millisecond)
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	var checkpoints atomic.Int64
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := j.Checkpoint(r); err != nil {
					t.Error(err)
					return
				}
				checkpoints.Add(1)
				time.Sleep(time.Millisecond)
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 1500 {
				randomCommand(rng, r)
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	if checkpoints.Load() < 2 {
		t.Fatalf("%d checkpoints ran", checkpoints.Load())
	}
	if len(j.segmentFirsts()) > 1 && j.segmentFirsts()[0] == 1 {
		t.Fatal("no segment was compacted away")
	}
	want, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	o.Clock = clock.NewManual(clk.Now())
	got, j2, err := Recover(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	have, err := got.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("recovered state differs from the live one:\n%s\n%s", have, want)
	}
	if got.JournalIndex() != j2.Last() || got.JournalIndex() != r.JournalIndex() {
		t.Fatalf("JournalIndex %d, journal Last %d, live %d", got.JournalIndex(), j2.Last(), r.JournalIndex())
	}
}

// TestRecoverEmptyDir: a new directory recovers as an empty Registry that
// journals to it.
func TestRecoverEmptyDir(t *testing.T) {
	dir := t.TempDir()
	r, j, err := Recover(dir, call.Options{Clock: clock.NewManual(start)})
	if err != nil {
		t.Fatal(err)
	}
	r.Login("ann", "")
	if j.Last() != 1 || r.JournalIndex() != 1 {
		t.Fatalf("Last %d, JournalIndex %d, want 1", j.Last(), r.JournalIndex())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	r, j, err = Recover(dir, call.Options{Clock: clock.NewManual(start)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if r.JournalIndex() != 1 {
		t.Fatalf("JournalIndex %d after recovery, want 1", r.JournalIndex())
	}
}

// A host that opens the Journal with Options of its own recovers through
// the Journal's Recover method: the Registry is the one the journal
// records, and it appends under those Options from there on.
func TestRecoverWithOptions(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 512}
	opts := func() call.Options {
		return call.Options{Clock: clock.NewManual(start), NewID: counterIDs()}
	}
	j, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := j.Recover(opts())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 60 {
		randomCommand(rng, r)
	}
	want, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(j.segmentFirsts()); n < 3 {
		t.Fatalf("%d segments after 60 inputs in segments of 512 bytes, want several", n)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j, err = Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r, err = j.Recover(opts())
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the recovered Registry's snapshot differs from the one journaled")
	}
	before := len(j.segmentFirsts())
	for range 60 {
		randomCommand(rng, r)
	}
	if after := len(j.segmentFirsts()); after <= before {
		t.Fatalf("segments %d -> %d after 60 more inputs: the recovered Registry does not append under the Journal's Options", before, after)
	}
}
