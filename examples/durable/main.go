// Command durable is a host that journals every input with package
// journal, checkpoints now and then, "crashes", and recovers on restart
// without losing a call.
//
//	go run ./examples/durable
//
// What the host does (D1, D2):
//
//  1. journal.Recover(dir, options) at every start: the latest snapshot
//     plus the entries after it, and a Registry that journals to the
//     directory with group commit — it delivers an input's events, and a
//     command returns, only once the input's entry is durable.
//  2. From time to time, j.Checkpoint(reg): a snapshot naming the entries
//     it covers, written atomically, and the segments it covers removed.
//     It may run while other goroutines send commands.
//
// Replayed inputs emit their events again, with the same CallID and Seq;
// they go to Options.RecoverySink, so that the host does not ring anyone
// again for what they may have heard before the crash.
package main

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/journal"
)

func main() {
	dir, err := os.MkdirTemp("", "callsig-durable-")
	check(err)
	defer os.RemoveAll(dir)

	fmt.Println("== first run")
	clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	reg, j, err := journal.Recover(dir, call.Options{Clock: clk, Sink: &printer{how: "live"}})
	check(err)
	check(reg.Login("alice", "laptop"))
	check(reg.Login("bob", "phone"))
	res, err := reg.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: 30 * time.Second})
	check(err)

	fmt.Println("-- checkpoint: a snapshot, and the journal it covers dropped")
	index, err := j.Checkpoint(reg)
	check(err)
	fmt.Printf("-- the snapshot covers entries 1..%d\n", index)

	clk.Advance(5 * time.Second)
	check(reg.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"}))
	fmt.Println("-- the host crashes at +15s: the process is gone, the files stay")
	crashedAt := clk.Now().Add(10 * time.Second)
	// A crash closes nothing; the entries are durable already (Accept
	// returned once its entry was). Closing here only frees the file.
	check(j.Close())

	fmt.Println("\n== restart")
	clk = clock.NewManual(crashedAt) // a new process, a new clock
	reg, j, err = journal.Recover(dir, call.Options{Clock: clk, Sink: &printer{how: "live"}, RecoverySink: &printer{how: "replayed"}})
	check(err)
	defer j.Close()
	fmt.Printf("-- recovered: %d entries seen\n", reg.JournalIndex())
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
}

// printer prints each event with how it reached the host.
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
