package call_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// seedJournal runs a short random session and returns its snapshot and its
// journal as JSON lines, as seeds for the fuzz targets.
func seedJournal(seed uint64) (snap []byte, lines []byte) {
	rng := rand.New(rand.NewPCG(seed, 3))
	var buf bytes.Buffer
	clk := clock.NewManual(t0)
	reg, _ := call.NewRegistry(call.Options{Clock: clk, NewID: counterIDs(), Journal: call.JournalFunc(func(e call.Entry) error {
		b, _ := json.Marshal(e)
		buf.Write(append(b, '\n'))
		return nil
	})})
	for range 40 {
		randomInput(rng, reg, clk)
	}
	snap, _ = reg.Snapshot()
	return snap, buf.Bytes()
}

// FuzzRestore (D2): no bytes make Restore panic; what it accepts snapshots
// back to the same bytes, and runs.
func FuzzRestore(f *testing.F) {
	for seed := range uint64(4) {
		snap, _ := seedJournal(seed)
		f.Add(snap)
		f.Add(snap[:len(snap)/2])
	}
	f.Add([]byte{})
	f.Add([]byte(`{"callsig_snapshot":1}`))
	{ // times past year 9999 (D2)
		reg, _ := call.NewRegistry(call.Options{Clock: clock.NewManual(time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC)), NewID: counterIDs()})
		_, _ = reg.Invite("ann", []string{"bob"}, call.InviteConfig{Timeout: call.DefaultMaxTimeout})
		snap, _ := reg.Snapshot()
		f.Add(snap)
	}
	f.Add([]byte(`{"callsig_snapshot":2,"calls":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		clk := clock.NewManual(t0)
		reg, err := call.Restore(b, call.Options{Clock: clk})
		if err != nil {
			return
		}
		again, err := reg.Snapshot()
		if err != nil {
			t.Fatalf("a restored registry cannot snapshot: %v", err)
		}
		reg2, err := call.Restore(again, call.Options{Clock: clock.NewManual(t0)})
		if err != nil {
			t.Fatalf("Restore refuses its own snapshot: %v\n%s", err, again)
		}
		if third, _ := reg2.Snapshot(); !bytes.Equal(again, third) {
			t.Fatalf("snapshot round trip differs:\n%s\n%s", again, third)
		}
		clk.Advance(time.Hour) // every deadline falls due
		reg.Login("ann", "")
	})
}

// FuzzApplyEntries (D1, C4): arbitrary journal lines, decoded and applied,
// never panic, and applying the same entries to two registries gives the
// same events and state.
func FuzzApplyEntries(f *testing.F) {
	for seed := range uint64(4) {
		_, lines := seedJournal(seed)
		f.Add(lines)
	}
	f.Add([]byte(`{"op":"invite","at":"2026-11-27T09:00:00Z","user":"a","users":["b"],"call":"x"}` + "\n" +
		`{"op":"accept","at":"2026-11-27T09:00:01Z","user":"b","call":"x"}`))
	f.Add([]byte(`{"op":"tick","at":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var entries []call.Entry
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var e call.Entry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				entries = append(entries, e)
			}
		}
		run := func() ([]events.Event, []byte) {
			rec := &events.Recorder{}
			reg, _ := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: rec})
			for _, e := range entries {
				_ = reg.Apply(e)
			}
			snap, err := reg.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			return rec.Take(), snap
		}
		e1, s1 := run()
		e2, s2 := run()
		if !bytes.Equal(s1, s2) || len(e1) != len(e2) {
			t.Fatal("the same entries gave different results")
		}
	})
}
