package call_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestStats: Stats counts the host's inputs by op and result, the events
// handed to the Sink by kind, the live calls, the online devices (a
// restored Registry's too) and the Journal's appends; Apply's entries are
// not counted as commands.
func TestStats(t *testing.T) {
	j := &memJournal{}
	g := newRig(t, t0, j, nil)
	reg := g.reg
	_ = reg.Login("alice", "laptop")
	_ = reg.Login("bob", "phone")
	_ = reg.Login("bob", "web")
	_ = reg.Login("", "x")
	res, _ := reg.Invite("alice", []string{"bob"}, call.InviteConfig{})
	_ = reg.Accept("bob", res.CallID, call.AcceptConfig{})
	_ = reg.Reject("bob", res.CallID, call.RejectConfig{}) // the call is over
	_ = reg.Logout("bob", "web")

	s := reg.Stats()
	want := []call.CommandCount{
		{call.OpInvite, "", 1}, {call.OpAccept, "", 1}, {call.OpReject, "call_not_found", 1},
		{call.OpLogin, "", 3}, {call.OpLogin, "invalid_user", 1}, {call.OpLogout, "", 1},
	}
	if !equalCounts(s.Commands, want) {
		t.Errorf("Commands: %v, want %v", s.Commands, want)
	}
	kinds := map[events.Kind]uint64{}
	for _, e := range s.Events {
		kinds[e.Kind] = e.Count
	}
	if len(s.Events) != 9 || kinds[events.InvitationCreated] != 1 || kinds[events.InvitationReceived] != 1 ||
		kinds[events.InvitationAccepted] != 1 || kinds[events.UserStateChanged] != 1 || kinds[events.InvitationEnded] != 0 {
		t.Errorf("Events: %v", s.Events)
	}
	if s.LiveCalls != 0 || s.OnlineDevices != 2 || s.Backlog != 0 || s.Overloaded || s.Panics != 0 || s.JournalRefusals != 0 {
		t.Errorf("Stats: %+v", s)
	}
	h := s.JournalAppend
	if h.Count != uint64(len(j.lines)) || len(h.Counts) != len(h.Bounds)+1 || len(h.Bounds) == 0 || sum(h.Counts) != h.Count {
		t.Errorf("JournalAppend: %+v, %d entries", h, len(j.lines))
	}
	if s.JournalSync.Count != 0 || len(s.JournalSync.Bounds) != len(h.Bounds) {
		t.Errorf("JournalSync: %+v", s.JournalSync)
	}

	snap, err := reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back, err := call.Recover(snap, j.entries(t)[:0], call.Options{Clock: g.clk})
	if err != nil {
		t.Fatal(err)
	}
	if s := back.Stats(); s.OnlineDevices != 2 || s.Commands != nil {
		t.Errorf("restored: %+v", s)
	}
	replayed, err := call.Recover(nil, j.entries(t), call.Options{Clock: g.clk})
	if err != nil {
		t.Fatal(err)
	}
	if s := replayed.Stats(); s.OnlineDevices != 2 || s.Commands != nil {
		t.Errorf("recovered from the journal: %+v", s)
	}
}

func equalCounts(a, b []call.CommandCount) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sum(c []uint64) (n uint64) {
	for _, x := range c {
		n += x
	}
	return n
}

// TestLogger: Options.Logger hears of a Journal that starts refusing and
// accepts again, of an overload that begins and ends, and of a panic in
// host code: one line each, never one per command.
func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	j := &memJournal{}
	g := newRig(t, t0, nil, nil)
	reg, err := call.NewRegistry(call.Options{Clock: g.clk, Journal: j, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	_ = reg.Login("alice", "laptop")
	if buf.Len() != 0 {
		t.Fatalf("a plain Login logged: %s", buf.String())
	}
	j.refuse = errors.New("disk full")
	for range 5 {
		_ = reg.Login("bob", "phone")
	}
	j.refuse = nil
	_ = reg.Login("bob", "phone")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "refuses") || !strings.Contains(lines[0], "disk full") ||
		!strings.Contains(lines[1], "again") || !strings.Contains(lines[1], "refused=5") {
		t.Fatalf("Journal lines:\n%s", buf.String())
	}
	if s := reg.Stats(); s.JournalRefusals != 5 {
		t.Fatalf("JournalRefusals %d", s.JournalRefusals)
	}

	// Overload: a Sink that makes commands from inside Emit, with a
	// backlog limit of 1.
	buf.Reset()
	var reg2 *call.Registry
	nested := false
	sink := events.SinkFunc(func(e events.Event) {
		if nested {
			return
		}
		nested = true
		for range 3 {
			_, _ = reg2.Invite("carol", []string{"dave"}, call.InviteConfig{}) // refused: the rest of the batch waits
		}
	})
	reg2, err = call.NewRegistry(call.Options{Clock: g.clk, Sink: sink, MaxBacklog: 1, Logger: logger, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg2.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg2.Invite("erin", []string{"frank"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "overloaded") || !strings.Contains(lines[1], "overload over") || !strings.Contains(lines[1], "refused=3") {
		t.Fatalf("overload lines:\n%s", buf.String())
	}

	// A panic in host code (here the Journal) is logged, and re-raised.
	buf.Reset()
	reg3, err := call.NewRegistry(call.Options{Clock: g.clk, Logger: logger,
		Journal: call.JournalFunc(func(call.Entry) error { panic("boom") })})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = reg3.Login("alice", "laptop")
	}()
	if !strings.Contains(buf.String(), "panic") || !strings.Contains(buf.String(), "boom") || reg3.Stats().Panics != 1 {
		t.Fatalf("panic line:\n%s", buf.String())
	}
}

// callbackHandler is a slog.Handler that asks the Registry something for
// every line, as a Handler adding the Registry's figures might.
type callbackHandler struct {
	slog.Handler
	reg   func() *call.Registry
	lines *atomic.Int64
}

func (h callbackHandler) Handle(ctx context.Context, r slog.Record) error {
	_ = h.reg().Stats()
	h.lines.Add(1)
	return nil
}

// The Logger is host code: its lines are written without the Registry's
// lock, so a Handler may call back into the Registry.
func TestLoggerMayCallTheRegistry(t *testing.T) {
	var reg *call.Registry
	var lines atomic.Int64
	h := callbackHandler{slog.NewTextHandler(io.Discard, nil), func() *call.Registry { return reg }, &lines}
	j := &memJournal{}
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Journal: j, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.refuse = errors.New("disk full")
		_ = reg.Login("bob", "phone")
		j.refuse = nil
		_ = reg.Login("bob", "phone")
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a Logger that calls the Registry deadlocked it")
	}
	if n := lines.Load(); n != 2 {
		t.Fatalf("%d lines, want 2 (refusing, accepting again)", n)
	}
}
