package durable

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/journal"
)

var t0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func options() call.Options {
	return call.Options{Clock: clock.NewManual(t0)}
}

// openStore opens a Store of dir that checkpoints every entries.
func openStore(t *testing.T, dir string, every uint64) (*Store, *call.Registry) {
	t.Helper()
	st := New(dir, every, quiet())
	reg, err := st.NewRegistry(options())
	if err != nil {
		t.Fatal(err)
	}
	return st, reg
}

// snapshotIndex is the index of the latest snapshot in dir.
func snapshotIndex(t *testing.T, dir string) uint64 {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	index, _, err := j.LatestSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return index
}

// A Store gives back, after Close, the Registry it journaled (a call still
// ringing included); Checkpoint
// takes a snapshot only once every entries were journaled since the last
// (or when forced), and Close takes a last one.
func TestStoreRoundTripAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	st, reg := openStore(t, dir, 4)
	reg.Login("ann", "")
	reg.Login("ben", "")
	res, err := reg.Invite("ann", []string{"ben"}, call.InviteConfig{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	st.Checkpoint(false) // 3 entries: not due
	if got := st.last; got != 0 {
		t.Fatalf("a checkpoint at index %d after 3 entries of 4", got)
	}
	reg.Login("cat", "")
	st.Checkpoint(false) // 4 entries: due
	if got := st.last; got != 4 {
		t.Fatalf("checkpoint at %d, want 4", got)
	}
	st.Checkpoint(true) // nothing new: none
	if got := st.last; got != 4 {
		t.Fatalf("checkpoint at %d with nothing new, want 4", got)
	}
	reg.Login("dan", "")
	want, err := reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := snapshotIndex(t, dir); got != 5 {
		t.Fatalf("Close left the latest snapshot at %d, want 5", got)
	}

	st, reg = openStore(t, dir, 4)
	defer st.Close()
	got, err := reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the Registry recovered from the Store differs from the one closed")
	}
	if info, ok := reg.Call(res.CallID); !ok || info.Members[1].State != events.Received {
		t.Fatalf("call %s after the restart: %+v, %v", res.CallID, info, ok)
	}
}

// Close on a Store that never opened its Registry does nothing.
func TestCloseUnopened(t *testing.T) {
	if err := New(t.TempDir(), 10, quiet()).Close(); err != nil {
		t.Fatal(err)
	}
}
