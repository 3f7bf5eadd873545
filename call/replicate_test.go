package call_test

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// stillClock is a replica's clock: its timers never fire, and reading it is
// a test failure, since a replica takes every instant from its entries.
type stillClock struct{ t *testing.T }

func (c stillClock) Now() time.Time {
	c.t.Helper()
	c.t.Error("a replica read its clock")
	return time.Time{}
}

func (stillClock) AfterFunc(time.Duration, func()) clock.Timer { return stillTimer{} }

type stillTimer struct{}

func (stillTimer) Stop() bool { return true }

// twins runs every input twice: as a command on a Registry (direct), and
// as an entry built the way a proposer builds one, applied with
// ApplyResult to a Registry that never reads its clock (replica).
type twins struct {
	t       *testing.T
	clk     *clock.Manual
	nextID  string // what NewID answers next, for both
	direct  *call.Registry
	replica *call.Registry
	dRec    events.Recorder
	rRec    events.Recorder
	opts    call.Options
}

func newTwins(t *testing.T) *twins {
	w := &twins{t: t, clk: clock.NewManual(t0)}
	admit := func(_, invitee string) error {
		switch invitee {
		case "mallory":
			return errors.New("blocked")
		case "quiet":
			return errors.New("")
		}
		return nil
	}
	w.opts = call.Options{
		NewID: func() string { return w.nextID }, Admit: admit, Glare: call.GlareMerge, Busy: call.BusyInCall,
		HeartbeatTimeout: 40 * time.Second, NotReceivedAfter: 5 * time.Second, History: 3,
	}
	o := w.opts
	o.Clock, o.Sink = w.clk, &w.dRec
	var err error
	if w.direct, err = call.NewRegistry(o); err != nil {
		t.Fatal(err)
	}
	o.Clock, o.Sink, o.NewID, o.Admit = stillClock{t}, &w.rRec, nil, nil
	if w.replica, err = call.NewRegistry(o); err != nil {
		t.Fatal(err)
	}
	return w
}

// entry completes e as a proposer does: its clock reading, the call ID an
// Invite without a host-chosen one is given, Admit's answers.
func (w *twins) entry(e call.Entry) call.Entry {
	e.At = w.clk.Now().Round(0).UTC()
	if e.Op == call.OpInvite {
		e.HostID = e.CallID != ""
		if !e.HostID {
			e.CallID = w.opts.NewID()
		}
	}
	if e.Op == call.OpInvite || e.Op == call.OpCallingInvite {
		errs := make([]error, len(e.Users))
		for i, u := range e.Users {
			errs[i] = w.opts.Admit(e.User, u)
		}
		e.Admit = call.AdmitAnswers(errs)
	}
	return e
}

// step runs the command on direct and its entry on replica, and checks
// that both give the same result, error, events and state.
func (w *twins) step(name string, e call.Entry, direct func(r *call.Registry) (call.Result, error)) {
	w.t.Helper()
	want, wantErr := direct(w.direct)
	got, gotErr := w.replica.ApplyResult(w.entry(e))
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		w.t.Fatalf("%s: error %v, the Registry's %v", name, gotErr, wantErr)
	}
	if !reflect.DeepEqual(failureText(got), failureText(want)) {
		w.t.Fatalf("%s: result\n%+v\nthe Registry's\n%+v", name, got, want)
	}
	w.same(name)
}

// same checks that both Registries emitted the same events since the last
// check and hold the same state.
func (w *twins) same(name string) {
	w.t.Helper()
	if d, r := w.dRec.Take(), w.rRec.Take(); !reflect.DeepEqual(d, r) {
		w.t.Fatalf("%s: events\n%v\nthe Registry's\n%v", name, r, d)
	}
	ds, err := w.direct.Snapshot()
	if err != nil {
		w.t.Fatal(err)
	}
	rs, err := w.replica.Snapshot()
	if err != nil {
		w.t.Fatal(err)
	}
	// The snapshots name their JournalIndex, which differs by design: the
	// replica counts every entry it applied without error, no-ops a
	// proposer cannot foresee (a repeated answer, an H4 retry) included,
	// where the Registry counts the inputs it journals.
	ds, rs = journalIndex.ReplaceAll(ds, nil), journalIndex.ReplaceAll(rs, nil)
	if string(ds) != string(rs) {
		w.t.Fatalf("%s: snapshot\n%s\nthe Registry's\n%s", name, rs, ds)
	}
}

// journalIndex matches the JournalIndex member of a snapshot.
var journalIndex = regexp.MustCompile(`"journal":[0-9]+,`)

// failureText replaces each Failure's error by what an entry keeps of it:
// its message, "refused" for an empty one (AdmitAnswers).
func failureText(r call.Result) call.Result {
	fs := r.Invite.Failed
	r.Invite.Failed = nil
	for _, f := range fs {
		r.Invite.Failed = append(r.Invite.Failed, call.Failure{User: f.User, Err: errors.New(call.AdmitAnswers([]error{f.Err})[0])})
	}
	return r
}

// tick makes time pass to the next due instant: the direct Registry's
// timer fires; the replica gets the OpTick a proposer's timer proposes.
func (w *twins) tick() {
	w.t.Helper()
	due, ok := w.replica.NextDue()
	if !ok {
		w.t.Fatal("tick with nothing due")
	}
	if d2, _ := w.direct.NextDue(); !d2.Equal(due) {
		w.t.Fatalf("NextDue %v, the Registry's %v", due, d2)
	}
	w.clk.Set(due)
	if _, err := w.replica.ApplyResult(w.entry(call.Entry{Op: call.OpTick})); err != nil {
		w.t.Fatal(err)
	}
	w.same("tick at " + due.Format(time.RFC3339))
}

// TestProposerEntriesApplyAsTheRegistry drives a Registry with its
// commands and a replica with entries built outside any Registry, as a
// replicating proposer builds them: the results, errors, events and
// snapshots agree after every input, H3, H4 and H7 included.
func TestProposerEntriesApplyAsTheRegistry(t *testing.T) {
	w := newTwins(t)
	invite := func(name, from string, to []string, cfg call.InviteConfig) {
		t.Helper()
		w.step(name, call.Entry{Op: call.OpInvite, User: from, Users: to, Timeout: cfg.Timeout, Mode: cfg.Mode,
			Data: cfg.ExtendedData, Push: cfg.Push, CallID: cfg.CallID}, func(r *call.Registry) (call.Result, error) {
			res, err := r.Invite(from, to, cfg)
			return call.Result{Invite: res}, err
		})
	}
	presence := func(op call.Op, user, device string) {
		t.Helper()
		w.step(string(op)+" "+user, call.Entry{Op: op, User: user, Device: device}, func(r *call.Registry) (call.Result, error) {
			switch op {
			case call.OpLogin:
				return call.Result{}, r.Login(user, device)
			case call.OpLogout:
				return call.Result{}, r.Logout(user, device)
			case call.OpHeartbeat:
				return call.Result{}, r.Heartbeat(user, device)
			}
			return call.Result{}, r.Replay(user, device)
		})
	}
	answer := func(op call.Op, user, callID string) {
		t.Helper()
		w.step(string(op)+" "+user, call.Entry{Op: op, User: user, CallID: callID, Data: "d", Device: "p"}, func(r *call.Registry) (call.Result, error) {
			switch op {
			case call.OpAccept:
				return call.Result{}, r.Accept(user, callID, call.AcceptConfig{ExtendedData: "d", Device: "p"})
			case call.OpReject:
				return call.Result{}, r.Reject(user, callID, call.RejectConfig{ExtendedData: "d", Device: "p"})
			case call.OpJoin:
				info, err := r.Join(user, callID, call.JoinConfig{ExtendedData: "d", Device: "p"})
				return call.Result{Info: info}, err
			case call.OpQuit:
				return call.Result{}, r.Quit(user, callID, call.QuitConfig{ExtendedData: "d", Device: "p"})
			}
			return call.Result{}, r.End(user, callID, call.EndConfig{ExtendedData: "d", Device: "p"})
		})
	}
	cancel := func(user, callID string, users []string) {
		t.Helper()
		w.step("cancel "+callID, call.Entry{Op: call.OpCancel, User: user, CallID: callID, Users: users}, func(r *call.Registry) (call.Result, error) {
			failed, err := r.Cancel(user, callID, users, call.CancelConfig{})
			return call.Result{Failed: failed}, err
		})
	}
	callingInvite := func(user, callID string, users []string) {
		t.Helper()
		w.step("calling invite "+callID, call.Entry{Op: call.OpCallingInvite, User: user, CallID: callID, Users: users}, func(r *call.Registry) (call.Result, error) {
			res, err := r.CallingInvite(user, callID, users, call.CallingInviteConfig{})
			return call.Result{Invite: res}, err
		})
	}

	presence(call.OpLogin, "bob", "b1")
	presence(call.OpLogin, "alice", "a1")
	presence(call.OpLogin, "bob", "b1") // a no-op: nothing journaled, nothing changed
	w.nextID = "c1"
	invite("admit refuses some", "alice", []string{"bob", "mallory", "carol", "quiet"}, call.InviteConfig{ExtendedData: "x"})
	w.nextID = "c2"
	invite("admit refuses all", "alice", []string{"mallory"}, call.InviteConfig{})
	invite("invalid user", "", []string{"bob"}, call.InviteConfig{})
	invite("too long", "alice", []string{"bob"}, call.InviteConfig{Timeout: time.Hour})
	w.clk.Advance(time.Second)
	invite("host ID", "dave", []string{"erin", "mallory"}, call.InviteConfig{CallID: "room-1", Push: &events.Push{Title: "t"}})
	invite("H4 retry", "dave", []string{"erin", "mallory"}, call.InviteConfig{CallID: "room-1"})
	invite("host ID taken", "frank", []string{"erin"}, call.InviteConfig{CallID: "room-1"})
	w.nextID = "c1"
	invite("NewID in use", "gina", []string{"hank"}, call.InviteConfig{})
	w.nextID = "c3"
	invite("glare: a call to be merged into", "erin", []string{"ivan"}, call.InviteConfig{})
	w.nextID = "c4"
	invite("glare: merged", "ivan", []string{"erin"}, call.InviteConfig{ExtendedData: "m"})
	invite("glare with a host ID", "bob", []string{"alice"}, call.InviteConfig{CallID: "b-a"})
	answer(call.OpAccept, "bob", "c1")
	answer(call.OpAccept, "bob", "c1") // a repeated answer: a no-op
	answer(call.OpReject, "carol", "c1")
	cancel("dave", "room-1", nil)
	w.clk.Advance(2 * time.Second)
	w.nextID = "adv"
	invite("advanced", "alice", []string{"carol"}, call.InviteConfig{Mode: events.Advanced, Timeout: 20 * time.Second})
	callingInvite("alice", "adv", []string{"dave", "mallory"})
	callingInvite("alice", "adv", []string{"quiet"})
	answer(call.OpJoin, "dave", "adv")
	answer(call.OpAccept, "carol", "adv")
	answer(call.OpQuit, "carol", "adv")
	presence(call.OpHeartbeat, "bob", "b1")
	presence(call.OpReplay, "alice", "a1")
	presence(call.OpReplay, "zed", "z1")
	w.tick() // H6
	w.tick()
	answer(call.OpEnd, "dave", "adv")
	w.nextID = "c5"
	invite("to time out", "alice", []string{"zed"}, call.InviteConfig{Timeout: 10 * time.Second})
	presence(call.OpLogout, "bob", "b1")
	// The deadline, then the heartbeats lapse (H5) and G7 applies: time
	// passes until nothing is left due.
	for i := 0; ; i++ {
		if _, ok := w.replica.NextDue(); !ok {
			break
		}
		if i == 20 {
			t.Fatal("something still due after 20 ticks")
		}
		w.tick()
	}
	presence(call.OpLogout, "alice", "a1")
	if w.replica.Len() != 0 {
		t.Fatalf("%d calls live at the end", w.replica.Len())
	}
}

// TestApplyResultRefusesWhatApplyRefuses: an unknown op, and an invite
// entry without the ID it made, are ErrInvalidArgument, changing nothing.
func TestApplyResultRefusesWhatApplyRefuses(t *testing.T) {
	r, err := call.NewRegistry(call.Options{Clock: stillClock{t}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []call.Entry{
		{Op: "dance", At: t0},
		{Op: call.OpInvite, At: t0, User: "a", Users: []string{"b"}},
	} {
		_, err := r.ApplyResult(e)
		if !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("ApplyResult(%v) = %v, want ErrInvalidArgument", e, err)
		}
		if err2 := r.Apply(e); fmt.Sprint(err2) != fmt.Sprint(err) {
			t.Errorf("Apply(%v) = %v, ApplyResult's %v", e, err2, err)
		}
	}
	if r.Len() != 0 {
		t.Fatal("a refused entry changed the Registry")
	}
}

// TestNextDue: the earliest deadline, heartbeat or check, never read from
// the clock (D4), and false once nothing is pending.
func TestNextDue(t *testing.T) {
	clk := clock.NewManual(t0)
	r, err := call.NewRegistry(call.Options{Clock: clk, HeartbeatTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := r.NextDue(); ok {
		t.Fatalf("NextDue of an empty Registry = %v, true", at)
	}
	if err := r.Login("bob", "b1"); err != nil {
		t.Fatal(err)
	}
	if at, ok := r.NextDue(); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("NextDue = %v, %v; want the heartbeat's deadline %v", at, ok, t0.Add(time.Minute))
	}
	if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if at, ok := r.NextDue(); !ok || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("NextDue = %v, %v; want the invitation's deadline", at, ok)
	}
	clk.Advance(time.Hour)
	if at, ok := r.NextDue(); ok {
		t.Fatalf("NextDue after everything fell due = %v, true", at)
	}
}

// TestAdmitAnswers: nil for all admitted, the messages otherwise,
// "refused" for an empty one.
func TestAdmitAnswers(t *testing.T) {
	if got := call.AdmitAnswers([]error{nil, nil}); got != nil {
		t.Fatalf("AdmitAnswers(all nil) = %q, want nil", got)
	}
	got := call.AdmitAnswers([]error{nil, errors.New("busy"), errors.New("")})
	if want := []string{"", "busy", "refused"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("AdmitAnswers = %q, want %q", got, want)
	}
	if id := call.NewCallID(); len(id) != 22 || id == call.NewCallID() {
		t.Fatalf("NewCallID = %q", id)
	}
}
