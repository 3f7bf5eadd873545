// Command durable is a host that journals every input to a file, snapshots
// now and then, "crashes", and recovers on restart without losing a call.
//
//	go run ./examples/durable
//
// What a host must store, and in which order (D1, D2):
//
//  1. Every Entry the Registry hands to its Journal, durably, before the
//     Append returns: the Registry sends an input's events only after that.
//  2. From time to time, a Snapshot, written atomically; once it is on disk,
//     a new journal file starts and the old one may be deleted.
//
// On restart: Recover(snapshot, entries of the journal written after it).
// Replayed inputs emit their events again, with the same CallID and Seq, so
// a host that may have delivered some of them before the crash skips those
// it already sent (at-least-once delivery, deduplicated by CallID+Seq).
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/jsonl"
)

func main() {
	dir, err := os.MkdirTemp("", "callsig-durable-")
	check(err)
	defer os.RemoveAll(dir)
	snapPath := filepath.Join(dir, "snapshot.json")
	journalPath := filepath.Join(dir, "journal.jsonl")

	fmt.Println("== first run")
	clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	journal := &rotating{}
	check(journal.open(journalPath))
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: &printer{how: "live"}, Journal: journal})
	check(err)
	check(reg.Login("alice", "laptop"))
	check(reg.Login("bob", "phone"))
	res, err := reg.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: 30 * time.Second})
	check(err)

	fmt.Println("-- snapshot, then a fresh journal")
	snap, err := reg.Snapshot() // between inputs: nothing is half done
	check(err)
	check(jsonl.WriteFileAtomic(snapPath, snap))
	check(journal.rotate(journalPath)) // everything in the old journal is in the snapshot now

	clk.Advance(5 * time.Second)
	check(reg.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"}))
	fmt.Println("-- the host crashes at +15s: the process is gone, the files stay")
	crashedAt := clk.Now().Add(10 * time.Second)

	fmt.Println("\n== restart")
	clk = clock.NewManual(crashedAt) // a new process, a new clock
	snap, err = os.ReadFile(snapPath)
	check(err)
	entries, err := jsonl.Read(journalPath)
	check(err)
	fmt.Printf("-- recovering from the snapshot and %d journal entries\n", len(entries))
	journal = &rotating{}
	check(journal.open(journalPath))
	sink := &printer{how: "replayed"}
	reg, err = call.Recover(snap, entries, call.Options{Clock: clk, Sink: sink, Journal: journal})
	check(err)
	sink.how = "live" // from here on, events are new
	info, ok := reg.Call(res.CallID)
	fmt.Printf("-- call live=%v:", ok)
	for _, m := range info.Members {
		fmt.Printf(" %s=%s", m.User, m.State)
	}
	fmt.Println()

	fmt.Println("-- alice's laptop did not come back: the host logs it out (presence is restored as it was)")
	check(reg.Logout("alice", "laptop")) // bob accepted, so the call stays (G7)
	fmt.Println("-- carol never answers; her deadline passes after the restart")
	clk.Advance(20 * time.Second)
	fmt.Printf("-- calls=%d timers=%d\n", reg.Len(), clk.Pending())
	check(journal.close())
}

// rotating is a Journal whose file can be replaced after a snapshot.
type rotating struct {
	mu sync.Mutex
	j  *jsonl.Journal
}

func (r *rotating) Append(e call.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.j.Append(e)
}

func (r *rotating) open(path string) error {
	j, err := jsonl.Open(path)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.j = j
	r.mu.Unlock()
	return nil
}

// rotate starts the journal at path afresh.
func (r *rotating) rotate(path string) error {
	if err := r.close(); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	return r.open(path)
}

func (r *rotating) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.j.Close()
}

// printer prints each event with how it reached the sink.
type printer struct{ how string }

func (p *printer) Emit(e events.Event) {
	fmt.Printf("   %-8s #%d %-24s -> %s", p.how, e.Seq, e.Kind, e.To)
	if e.Offline {
		fmt.Print(" (push)")
	}
	if e.From != "" && e.From != e.To {
		fmt.Printf(" from %s", e.From)
	}
	fmt.Println()
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
