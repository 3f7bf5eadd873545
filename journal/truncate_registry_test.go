package journal_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/journal"
)

// tee is a *journal.Journal that also keeps every entry appended.
type tee struct {
	*journal.Journal
	mu      sync.Mutex
	entries []call.Entry
}

func (t *tee) Append(e call.Entry) error {
	err := t.Journal.Append(e)
	if err == nil {
		t.mu.Lock()
		t.entries = append(t.entries, e)
		t.mu.Unlock()
	}
	return err
}

// TestRecoverAfterTruncationEveryOffset: a Registry journals to a
// directory, under every host policy that changes state, with checkpoints
// and segments rolling over; the last segment is then cut at every byte
// offset a crash can tear (not into its header, which is renamed into
// place whole, nor into entries a snapshot covers, fsynced first), and
// Recover must give exactly the state of the entries kept, replayed into
// a fresh Registry with call.Recover (D1, D2).
func TestRecoverAfterTruncationEveryOffset(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			dir := t.TempDir()
			jj, err := journal.Open(dir, journal.Options{SegmentSize: int64(512 + rng.IntN(2048))})
			if err != nil {
				t.Fatal(err)
			}
			j := &tee{Journal: jj}
			start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
			clk := clock.NewManual(start)
			n := 0
			o := call.Options{NewID: func() string { n++; return fmt.Sprint("c", n) },
				HeartbeatTimeout: 3 * time.Second, NotReceivedAfter: time.Second, History: 2, Glare: call.GlareMerge, Busy: call.BusyInCall}
			ro := o
			ro.Clock, ro.Journal = clk, j
			r, err := call.NewRegistry(ro)
			if err != nil {
				t.Fatal(err)
			}
			users := []string{"ann", "ben", "cat", "dan"}
			for step := range 120 {
				u, v := users[rng.IntN(4)], users[rng.IntN(4)]
				id := fmt.Sprint("c", 1+rng.IntN(n+1))
				switch rng.IntN(10) {
				case 0:
					r.Login(u, fmt.Sprint("d", rng.IntN(2)))
				case 1:
					r.Logout(u, fmt.Sprint("d", rng.IntN(2)))
				case 2:
					r.Heartbeat(u, fmt.Sprint("d", rng.IntN(2)))
				case 3, 4:
					r.Invite(u, []string{v}, call.InviteConfig{Mode: events.Mode(rng.IntN(2)), Timeout: time.Duration(1+rng.IntN(4)) * time.Second, ExtendedData: strings.Repeat("x", rng.IntN(40))})
				case 5:
					r.Accept(u, id, call.AcceptConfig{})
				case 6:
					r.Reject(u, id, call.RejectConfig{})
				case 7:
					r.CallingInvite(u, id, []string{v}, call.CallingInviteConfig{})
				case 8:
					r.Quit(u, id, call.QuitConfig{})
				default:
					clk.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
				}
				if step == 60 || step == 90 {
					if _, err := jj.Checkpoint(r); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := jj.Close(); err != nil {
				t.Fatal(err)
			}
			all := j.entries
			des, _ := os.ReadDir(dir)
			var last string
			for _, de := range des {
				if strings.HasSuffix(de.Name(), ".seg") {
					last = de.Name()
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, last))
			if err != nil {
				t.Fatal(err)
			}
			prev, cuts := uint64(0), 0
			for cut := len(b); cut >= 0; cut-- {
				d := copyTree(t, dir)
				if err := os.Truncate(filepath.Join(d, last), int64(cut)); err != nil {
					t.Fatal(err)
				}
				bo := o
				bo.Clock = clock.NewManual(clk.Now())
				got, gj, err := journal.Recover(d, bo)
				if err != nil {
					if errors.Is(err, journal.ErrCorrupt) && cut < 24 {
						continue // a header cut short: a crash cannot leave one (segments are renamed in whole)
					}
					if errors.Is(err, journal.ErrCorrupt) && strings.Contains(err.Error(), "the latest snapshot covers") {
						cuts++
						break // entries a snapshot covers were fsynced first: no crash cuts them
					}
					t.Fatalf("cut at %d of %d: %v", cut, len(b), err)
				}
				k := got.JournalIndex()
				if cut == len(b) && k != uint64(len(all)) {
					t.Fatalf("uncut: index %d, want %d", k, len(all))
				}
				if prev != 0 && k > prev {
					t.Fatalf("cut at %d: index %d, more than %d at a longer cut", cut, k, prev)
				}
				prev = k
				wo := o
				wo.Clock = clock.NewManual(clk.Now())
				want, err := call.Recover(nil, slices.Clone(all[:k]), wo)
				if err != nil {
					t.Fatal(err)
				}
				ws, _ := want.Snapshot()
				gs, _ := got.Snapshot()
				if string(ws) != string(gs) {
					t.Fatalf("cut at %d (index %d): state\n%s\nwant\n%s", cut, k, gs, ws)
				}
				gj.Close()
				cuts++
			}
			t.Logf("%d cuts, %d entries", cuts, len(all))
		})
	}
}
