package journal_test

import (
	"fmt"
	"os"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/journal"
)

// A journal's life: append, make durable before acting, snapshot with the
// count of entries the state has seen, compact, and recover after a
// restart from the snapshot and the entries after it.
func Example() {
	dir, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		panic(err)
	}
	for _, e := range []call.Entry{
		{Op: call.OpLogin, At: at, User: "bob", Device: "phone"},
		{Op: call.OpInvite, At: at.Add(time.Second), User: "alice", CallID: "c1", Users: []string{"bob"}, Timeout: 30 * time.Second},
		{Op: call.OpAccept, At: at.Add(3 * time.Second), User: "bob", CallID: "c1"},
	} {
		if err := j.Append(e); err != nil {
			panic(err)
		}
	}
	// Nothing about these inputs may reach a client before this returns.
	if err := j.Sync(); err != nil {
		panic(err)
	}
	// A state that has seen the first two entries, then the cut.
	if err := j.WriteSnapshot(2, []byte(`{"state after":2}`)); err != nil {
		panic(err)
	}
	if err := j.Compact(2); err != nil {
		panic(err)
	}
	if err := j.Close(); err != nil {
		panic(err)
	}

	// After a restart.
	j, err = journal.Open(dir, journal.Options{})
	if err != nil {
		panic(err)
	}
	defer j.Close()
	index, snap, err := j.LatestSnapshot()
	if err != nil {
		panic(err)
	}
	fmt.Printf("snapshot of entries 1..%d: %s\n", index, snap)
	err = j.Replay(index, func(i uint64, e call.Entry) error {
		fmt.Printf("entry %d: %s by %s at %s\n", i, e.Op, e.User, e.At.Format(time.TimeOnly))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// snapshot of entries 1..2: {"state after":2}
	// entry 3: accept by bob at 09:00:03
}
