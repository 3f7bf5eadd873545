package call_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

const resumeBeat = 30 * time.Second

// downtime journals, on a Registry with HeartbeatTimeout 30s from t0:
// alice online, inviting bob (offline, 5 min: c1) and dave (offline,
// 1 min: c2). Her heartbeat deadline is t0+30s, c2's t0+1m.
func downtime(t *testing.T) *memJournal {
	t.Helper()
	j := &memJournal{}
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Journal: j, NewID: counterIDs(), HeartbeatTimeout: resumeBeat})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Login("alice", "laptop"); err != nil {
		t.Fatal(err)
	}
	for _, inv := range []struct {
		who     string
		timeout time.Duration
	}{{"bob", 5 * time.Minute}, {"dave", time.Minute}} {
		if _, err := r.Invite("alice", []string{inv.who}, call.InviteConfig{Timeout: inv.timeout}); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

// recoverAt recovers from j's entries at instant at, journaling on to j.
func recoverAt(t *testing.T, j *memJournal, at time.Time, resume bool) (*call.Registry, *clock.Manual, *events.Recorder) {
	t.Helper()
	clk, rec := clock.NewManual(at), &events.Recorder{}
	r, err := call.Recover(nil, j.entries(t), call.Options{Clock: clk, Sink: rec, Journal: j, NewID: counterIDs(),
		HeartbeatTimeout: resumeBeat, RecoverySink: events.Discard, ResumeHeartbeats: resume})
	if err != nil {
		t.Fatal(err)
	}
	return r, clk, rec
}

// TestRecoverResumesHeartbeats: with ResumeHeartbeats, a device whose
// heartbeat deadline passed while the host was down is online after
// Recover until HeartbeatTimeout after the recovery, so its call rings on;
// the restart is journaled as one OpResume entry at the recovery's
// reading; the deadline of a call that passed meanwhile still falls due at
// once (D2). Then the device lapses, and G7 cancels its call.
func TestRecoverResumesHeartbeats(t *testing.T) {
	j := downtime(t)
	n := len(j.lines)
	at := t0.Add(2 * time.Minute)
	r, clk, rec := recoverAt(t, j, at, true)

	es := j.entries(t)[n:]
	if len(es) != 1 || es[0].Op != call.OpResume || !es[0].At.Equal(at) {
		t.Fatalf("journaled by Recover: %v, want one resume entry at %v", es, at)
	}
	clk.Advance(time.Nanosecond)
	if _, live := r.Call("c2"); live {
		t.Error("c2, due at t0+1m, did not fall due at the recovery's first firing")
	}
	clk.Advance(resumeBeat - 2*time.Nanosecond)
	if _, live := r.Call("c1"); !live || len(r.Online()) != 1 {
		t.Fatalf("before the restarted deadline: c1 live %v, online %v; want alice online and c1 ringing", live, r.Online())
	}
	for _, e := range rec.Take() {
		if e.CallID != "c2" {
			t.Errorf("before the restarted deadline: %+v", e)
		}
	}
	clk.Advance(time.Nanosecond)
	evs := rec.Take()
	if len(evs) == 0 || evs[0].Kind != events.InvitationCancelled || evs[0].Reason != events.ReasonCallerOffline ||
		evs[0].CallID != "c1" || !evs[0].At.Equal(at.Add(resumeBeat)) {
		t.Fatalf("at the restarted deadline: %+v, want c1 cancelled, the caller offline (G7)", evs)
	}
	if len(r.Online()) != 0 {
		t.Fatalf("online after the restarted deadline: %v", r.Online())
	}
}

// TestRecoverWithoutResume: without ResumeHeartbeats, the deadline that
// passed while the host was down falls due at the first firing (D2), and
// Recover journals nothing.
func TestRecoverWithoutResume(t *testing.T) {
	j := downtime(t)
	n := len(j.lines)
	r, clk, rec := recoverAt(t, j, t0.Add(2*time.Minute), false)
	if len(j.lines) != n {
		t.Fatalf("Recover journaled %v", j.entries(t)[n:])
	}
	clk.Advance(time.Nanosecond)
	if _, live := r.Call("c1"); live || len(r.Online()) != 0 {
		t.Fatalf("c1 live %v, online %v: alice's lapsed heartbeat did not fall due", live, r.Online())
	}
	if !slices.ContainsFunc(rec.Take(), func(e events.Event) bool {
		return e.CallID == "c1" && e.Reason == events.ReasonCallerOffline
	}) {
		t.Fatal("no cancel of c1 for its caller's lapse")
	}
}

// TestResumeReplays (D1): a second crash after the first recovery, with a
// heartbeat in between, is recovered to the same state: the replay of the
// resume entry restarts the same deadline at the same instant, so the
// replayed heartbeat finds alice online, as the original did (without
// it, her old deadline would fall due before the heartbeat), and both
// Registries snapshot the same bytes.
func TestResumeReplays(t *testing.T) {
	j := downtime(t)
	at := t0.Add(2 * time.Minute)
	r, clk, _ := recoverAt(t, j, at, true)
	clk.Advance(20 * time.Second)
	if err := r.Heartbeat("alice", "laptop"); err != nil {
		t.Fatal(err)
	}
	want, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	b, bclk, brec := recoverAt(t, j, at.Add(25*time.Second), false)
	got, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("recovered again:\n%s\nwant the state before the second crash:\n%s", got, want)
	}
	bclk.Advance(resumeBeat - 5*time.Second - time.Nanosecond) // to 1 ns before the heartbeat's deadline
	if _, live := b.Call("c1"); !live || len(b.Online()) != 1 {
		t.Fatalf("before the heartbeat's deadline: c1 live %v, online %v", live, b.Online())
	}
	brec.Take()
	bclk.Advance(time.Nanosecond)
	if evs := brec.Take(); len(evs) == 0 || evs[0].CallID != "c1" || evs[0].Reason != events.ReasonCallerOffline ||
		!evs[0].At.Equal(at.Add(20*time.Second+resumeBeat)) {
		t.Fatalf("at the heartbeat's deadline: %+v", evs)
	}
}

// TestResumeKeepsHeartbeatOrder: the restarted deadlines coincide, and
// the devices lapse in the order of their last heartbeats (the Time
// rule), not of their logins.
func TestResumeKeepsHeartbeatOrder(t *testing.T) {
	j := &memJournal{}
	clk := clock.NewManual(t0)
	r, err := call.NewRegistry(call.Options{Clock: clk, Journal: j, NewID: counterIDs(), HeartbeatTimeout: resumeBeat})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"carol", "alice"} {
		if err := r.Login(u, "d"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Invite(u, []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	if err := r.Heartbeat("carol", "d"); err != nil { // carol's last heartbeat is now after alice's
		t.Fatal(err)
	}
	at := t0.Add(5 * time.Minute)
	b, bclk, rec := recoverAt(t, j, at, true)
	bclk.Advance(resumeBeat)
	var callers []string
	for _, e := range rec.Take() {
		if e.Kind == events.InvitationCancelled {
			if !e.At.Equal(at.Add(resumeBeat)) {
				t.Errorf("cancelled at %v, want %v", e.At, at.Add(resumeBeat))
			}
			callers = append(callers, e.CallID)
		}
	}
	if want := []string{"c2", "c1"}; !slices.Equal(callers, want) { // alice's call, then carol's
		t.Fatalf("calls cancelled %v, want %v: alice, who heartbeated first, lapses first", callers, want)
	}
	if len(b.Online()) != 0 {
		t.Fatalf("online: %v", b.Online())
	}
}

// TestResumeNoop: with nobody online, or without HeartbeatTimeout, there
// is nothing to restart, and Recover journals nothing (D1: no-ops are not
// journaled).
func TestResumeNoop(t *testing.T) {
	for name, setup := range map[string]func(r *call.Registry) error{
		"nobody online": func(r *call.Registry) error {
			_, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{})
			return err
		},
		"no heartbeats": func(r *call.Registry) error { return r.Login("alice", "a") },
	} {
		t.Run(name, func(t *testing.T) {
			j := &memJournal{}
			beat := resumeBeat
			if name == "no heartbeats" {
				beat = 0
			}
			o := call.Options{Clock: clock.NewManual(t0), Journal: j, HeartbeatTimeout: beat}
			r, err := call.NewRegistry(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := setup(r); err != nil {
				t.Fatal(err)
			}
			n := len(j.lines)
			o.Clock, o.ResumeHeartbeats = clock.NewManual(t0.Add(time.Hour)), true
			b, err := call.Recover(nil, j.entries(t), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(j.lines) != n || b.JournalIndex() != uint64(n) {
				t.Fatalf("journaled %v, index %d", j.entries(t)[n:], b.JournalIndex())
			}
		})
	}
}

// TestResumeRefused: a Journal that refuses the resume entry fails
// Recover with ErrJournal (and the Journal's error), and no Registry.
func TestResumeRefused(t *testing.T) {
	j := downtime(t)
	entries := j.entries(t)
	full := errors.New("disk full")
	j.refuse = full
	r, err := call.Recover(nil, entries, call.Options{Clock: clock.NewManual(t0.Add(time.Hour)), Journal: j,
		HeartbeatTimeout: resumeBeat, ResumeHeartbeats: true})
	if r != nil || !errors.Is(err, call.ErrJournal) || !errors.Is(err, full) {
		t.Fatalf("Recover: a Registry %v, %v; want none, and ErrJournal with the Journal's error", r != nil, err)
	}
}
