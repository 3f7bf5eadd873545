package call_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// allSentinels are the package's sentinels, for checks that a decoded
// error matches the same ones as the error that was encoded.
var allSentinels = []error{
	call.ErrInvalidOption, call.ErrInvalidUser, call.ErrInvalidCallID, call.ErrInvalidArgument, call.ErrNoInvitees,
	call.ErrTooManyInvitees, call.ErrDuplicateInvitee, call.ErrSelfInvite, call.ErrInvalidTimeout, call.ErrDataTooLarge,
	call.ErrCallExists, call.ErrCallNotFound, call.ErrNotInviter, call.ErrNotInvitee, call.ErrNotPending,
	call.ErrAlreadyAccepted, call.ErrWrongMode, call.ErrJournal, call.ErrNotAccepted, call.ErrOverloaded,
}

// The wire names of an event's fields (package events, JSON), and of
// Info's and InviteResult's.
var (
	wireEventNames  = []string{"kind", "to", "offline", "call_id", "seq", "at", "mode", "caller", "from", "device", "to_device", "data", "push", "deadline", "members", "reason"}
	wireInfoNames   = []string{"call_id", "caller", "mode", "created_at", "timeout_ms", "data", "members", "ended_at"}
	wireResultNames = []string{"call_id", "timeout_ms", "deadline", "failed", "merged"}
)

// failer is what the checks need of a *testing.T or a *rapid.T.
type failer interface {
	Helper()
	Fatalf(format string, args ...any)
}

func roundTrip[T any](t failer, v T) (T, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%+v): %v", v, err)
	}
	var back T
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	return back, b
}

// jsonKeys returns the keys of the JSON object b.
func jsonKeys(t failer, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// wireString is s as a JSON string carries it: each byte that is not
// valid UTF-8 becomes U+FFFD.
func wireString(s string) string {
	b, _ := json.Marshal(s)
	var back string
	_ = json.Unmarshal(b, &back)
	return back
}

// wireMembers is ms as JSON carries them.
func wireMembers(ms []events.Member) []events.Member {
	if len(ms) == 0 {
		return nil
	}
	out := slices.Clone(ms)
	for i := range out {
		out[i].Data = wireString(out[i].Data)
	}
	return out
}

// wireEvent is e as JSON carries it.
func wireEvent(e events.Event) events.Event {
	e.Data = wireString(e.Data)
	if e.Push != nil {
		e.Push = &events.Push{Title: wireString(e.Push.Title), Content: wireString(e.Push.Content), Payload: wireString(e.Push.Payload)}
	}
	e.Members = wireMembers(e.Members)
	return e
}

// wireInfo is i as JSON carries it: whole milliseconds.
func wireInfo(i call.Info) call.Info {
	i.Timeout = i.Timeout.Truncate(time.Millisecond)
	i.ExtendedData = wireString(i.ExtendedData)
	i.Members = wireMembers(i.Members)
	return i
}

// checkEvent fails unless e comes back from JSON as it went, but for what
// JSON changes, with the wire names only.
func checkEvent(t failer, e events.Event) {
	t.Helper()
	back, b := roundTrip(t, e)
	if want := wireEvent(e); !reflect.DeepEqual(back, want) {
		t.Fatalf("event round trip of %s:\n got %+v\nwant %+v", b, back, want)
	}
	for _, k := range jsonKeys(t, b) {
		if !slices.Contains(wireEventNames, k) {
			t.Fatalf("%s has the key %q", b, k)
		}
	}
}

func checkInfo(t failer, i call.Info) {
	t.Helper()
	back, b := roundTrip(t, i)
	if want := wireInfo(i); !reflect.DeepEqual(back, want) {
		t.Fatalf("info round trip of %s:\n got %+v\nwant %+v", b, back, want)
	}
}

func checkResult(t failer, r call.InviteResult) {
	t.Helper()
	back, b := roundTrip(t, r)
	if back.CallID != r.CallID || back.Timeout != r.Timeout.Truncate(time.Millisecond) || back.Deadline != r.Deadline ||
		back.Merged != r.Merged || len(back.Failed) != len(r.Failed) {
		t.Fatalf("invite result round trip of %s: got %+v, want %+v", b, back, r)
	}
	for i, f := range r.Failed {
		checkFailure(t, f, back.Failed[i])
	}
}

// checkFailure fails unless back, decoded, is f as it went: its user, its
// code and message, and the sentinels it matches.
func checkFailure(t failer, f, back call.Failure) {
	t.Helper()
	if back.User != f.User || (back.Err == nil) != (f.Err == nil) {
		t.Fatalf("failure %+v came back as %+v", f, back)
	}
	if f.Err == nil {
		return
	}
	if want := f.Err.Error(); back.Err.Error() != want && !(want == "" && back.Err.Error() == call.Code(back.Err)) {
		t.Fatalf("failure message %q came back as %q", want, back.Err)
	}
	if want := call.Code(f.Err); want != "internal" && call.Code(back.Err) != want {
		t.Fatalf("failure code %q came back as %q", want, call.Code(back.Err))
	}
	for _, s := range allSentinels {
		if errors.Is(back.Err, s) != errors.Is(f.Err, s) {
			t.Fatalf("failure %v matches %v: %v; came back: %v", f.Err, s, errors.Is(f.Err, s), errors.Is(back.Err, s))
		}
	}
}

// checkErr fails unless a command's error has a sentinel's code and travels
// in a Failure as its code, message and sentinel.
func checkErr(t failer, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if c := call.Code(err); c == "internal" || c == "" {
		t.Fatalf("Code(%v) = %q", err, c)
	}
	f := call.Failure{User: "u", Err: err}
	back, _ := roundTrip(t, f)
	checkFailure(t, f, back)
}

// wireServer is a Registry whose every answer a test sends over JSON, as a
// host would, and checks that it comes back as it went. The Harness sees
// the Registry's own answers.
type wireServer struct {
	*call.Registry
	t failer
}

func (s wireServer) Invite(inviter string, invitees []string, c call.InviteConfig) (call.InviteResult, error) {
	r, err := s.Registry.Invite(inviter, invitees, c)
	checkErr(s.t, err)
	checkResult(s.t, r)
	return r, err
}

func (s wireServer) CallingInvite(user, callID string, invitees []string, c call.CallingInviteConfig) (call.InviteResult, error) {
	r, err := s.Registry.CallingInvite(user, callID, invitees, c)
	checkErr(s.t, err)
	checkResult(s.t, r)
	return r, err
}

func (s wireServer) Join(user, callID string, c call.JoinConfig) (call.Info, error) {
	i, err := s.Registry.Join(user, callID, c)
	checkErr(s.t, err)
	if err == nil {
		checkInfo(s.t, i)
	}
	return i, err
}

func (s wireServer) Call(callID string) (call.Info, bool) {
	i, ok := s.Registry.Call(callID)
	if ok {
		checkInfo(s.t, i)
	}
	return i, ok
}

func (s wireServer) Cancel(inviter, callID string, invitees []string, c call.CancelConfig) ([]string, error) {
	failed, err := s.Registry.Cancel(inviter, callID, invitees, c)
	checkErr(s.t, err)
	return failed, err
}

func (s wireServer) Accept(invitee, callID string, c call.AcceptConfig) error {
	err := s.Registry.Accept(invitee, callID, c)
	checkErr(s.t, err)
	return err
}

func (s wireServer) Reject(invitee, callID string, c call.RejectConfig) error {
	err := s.Registry.Reject(invitee, callID, c)
	checkErr(s.t, err)
	return err
}

func (s wireServer) Quit(user, callID string, c call.QuitConfig) error {
	err := s.Registry.Quit(user, callID, c)
	checkErr(s.t, err)
	return err
}

func (s wireServer) End(user, callID string, c call.EndConfig) error {
	err := s.Registry.End(user, callID, c)
	checkErr(s.t, err)
	return err
}

// TestWireRapid: a Registry driven by calltest's generators, both modes,
// with the host policies, checked against the Model as usual, while every
// event it delivers, every result, Info and error it returns goes through
// JSON and comes back as it went (but for what JSON changes: bytes that are
// not UTF-8, and timeouts past whole milliseconds, as the default timeout
// drawn here may be).
func TestWireRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
		o := call.Options{
			Busy:             rapid.SampledFrom([]call.BusyPolicy{call.BusyOff, call.BusyInCall}).Draw(t, "busy"),
			Glare:            rapid.SampledFrom([]call.GlarePolicy{call.GlareOff, call.GlareMerge}).Draw(t, "glare"),
			NotReceivedAfter: rapid.SampledFrom([]time.Duration{0, 1500 * time.Millisecond}).Draw(t, "not received"),
			History:          2,
			DefaultTimeout:   rapid.SampledFrom([]time.Duration{0, 5*time.Second + 500*time.Microsecond}).Draw(t, "default timeout"), // past whole milliseconds
		}
		if rapid.Bool().Draw(t, "admit") {
			o.Admit = func(_, invitee string) error {
				if invitee == "dave" {
					return errors.New("dave takes no calls")
				}
				return nil
			}
		}
		clk := clock.NewManual(start)
		rec := &events.Recorder{}
		ro := o
		ro.Clock, ro.Sink, ro.NewID = clk, rec, calltest.IDs("c")
		r, err := call.NewRegistry(ro)
		if err != nil {
			t.Fatal(err)
		}
		mo := o
		mo.NewID = calltest.IDs("c")
		h := &calltest.Harness{
			Server:  wireServer{r, t},
			Model:   calltest.NewModel(mo, start),
			Advance: clk.Advance,
			Take: func() []events.Event {
				es := rec.Take()
				for _, e := range es {
					checkEvent(t, e)
				}
				return es
			},
		}
		h.Run(t)
		for _, u := range calltest.DefaultUsers {
			calls, _, err := r.History(u, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range calls {
				checkInfo(t, i)
			}
		}
	})
}

// TestWireEveryKind: a day of calls that makes every Kind, State and Reason,
// offline and device-addressed events, a failure, a merge and a history;
// each comes back from JSON as it went, == field by field.
func TestWireEveryKind(t *testing.T) {
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	clk := clock.NewManual(start)
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{
		Clock: clk, Sink: rec, NewID: calltest.IDs("c"),
		Busy: call.BusyInCall, Glare: call.GlareMerge, History: 10, NotReceivedAfter: 2 * time.Second,
		Admit: func(_, invitee string) error {
			if invitee == "zed" {
				return errors.New("zed blocks alice")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var results []call.InviteResult
	invite := func(from string, to []string, cfg call.InviteConfig) string {
		t.Helper()
		res, err := r.Invite(from, to, cfg)
		must(err)
		results = append(results, res)
		return res.CallID
	}
	for _, u := range []string{"alice", "bob", "carol", "erin"} {
		r.Login(u, "phone")
	}
	push := &events.Push{Title: "Alice calls", Payload: `{"x":1}`}

	// General: bob accepts, dave (offline) is not reached (H6) and times out.
	c := invite("alice", []string{"bob", "dave", "zed"}, call.InviteConfig{Timeout: 30 * time.Second, ExtendedData: "hi", Push: push})
	clk.Advance(2 * time.Second)
	must(r.Accept("bob", c, call.AcceptConfig{Device: "phone", ExtendedData: "yes"}))
	clk.Advance(30 * time.Second)
	// A reject, a cancel, a caller going offline.
	c = invite("alice", []string{"carol"}, call.InviteConfig{})
	must(r.Reject("carol", c, call.RejectConfig{ExtendedData: "busy now"}))
	c = invite("alice", []string{"carol"}, call.InviteConfig{})
	_, err = r.Cancel("alice", c, nil, call.CancelConfig{ExtendedData: "sorry", Push: push})
	must(err)
	invite("alice", []string{"carol"}, call.InviteConfig{})
	r.Logout("alice", "phone")
	r.Login("alice", "phone")
	// A replay to a device that logs in while its user is rung (G8).
	invite("alice", []string{"carol"}, call.InviteConfig{Timeout: 10 * time.Second})
	r.Login("carol", "tablet")
	clk.Advance(10 * time.Second)
	// Advanced: bob is in a call, so busy (H2); carol joins by CallingInvite,
	// bob quits, alice ends it.
	c = invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced})
	must(r.Accept("bob", c, call.AcceptConfig{}))
	invite("erin", []string{"bob"}, call.InviteConfig{})
	res, err := r.CallingInvite("alice", c, []string{"carol"}, call.CallingInviteConfig{Push: push})
	must(err)
	results = append(results, res)
	must(r.Accept("carol", c, call.AcceptConfig{}))
	info, ok := r.Call(c)
	if !ok {
		t.Fatal("no call")
	}
	checkInfo(t, info)
	must(r.Quit("bob", c, call.QuitConfig{ExtendedData: "bye"}))
	must(r.End("alice", c, call.EndConfig{ExtendedData: "done"}))
	// Advanced, emptied: everyone quits (A4).
	c = invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced})
	info, err = r.Join("bob", c, call.JoinConfig{})
	must(err)
	checkInfo(t, info)
	must(r.Quit("bob", c, call.QuitConfig{}))
	must(r.Quit("alice", c, call.QuitConfig{}))
	// Glare (H3): erin calls carol while carol calls erin.
	invite("erin", []string{"carol"}, call.InviteConfig{})
	res, err = r.Invite("carol", []string{"erin"}, call.InviteConfig{})
	must(err)
	if !res.Merged {
		t.Fatalf("carol's invite of erin was not merged: %+v", res)
	}
	results = append(results, res)

	kinds, states, reasons := map[events.Kind]bool{}, map[events.State]bool{}, map[events.Reason]bool{}
	var offline, toDevice, pushed bool
	for _, e := range rec.Events() {
		checkEvent(t, e)
		kinds[e.Kind], reasons[e.Reason] = true, true
		for _, m := range e.Members {
			states[m.State] = true
		}
		offline, toDevice, pushed = offline || e.Offline, toDevice || e.ToDevice != "", pushed || e.Push != nil
	}
	for k := events.InvitationCreated; k <= events.InvitationEnded; k++ {
		if !kinds[k] {
			t.Errorf("no %v event", k)
		}
	}
	for s := events.Inviting; s <= events.NotYetReceived; s++ {
		if !states[s] {
			t.Errorf("no member %v", s)
		}
	}
	for r := events.ReasonNone; r <= events.ReasonEmpty; r++ {
		if !reasons[r] {
			t.Errorf("no reason %v", r)
		}
	}
	if !offline || !toDevice || !pushed {
		t.Errorf("offline %v, to a device %v, with a push %v: want all", offline, toDevice, pushed)
	}

	var failed bool
	for _, res := range results {
		checkResult(t, res)
		failed = failed || len(res.Failed) > 0
	}
	if !failed {
		t.Error("no invite result with a failure")
	}
	calls, _, err := r.History("alice", 0, "")
	must(err)
	if len(calls) < 5 {
		t.Fatalf("alice has %d calls in her history", len(calls))
	}
	for _, i := range calls {
		if i.EndedAt.IsZero() {
			t.Errorf("history call %s has no EndedAt", i.CallID)
		}
		checkInfo(t, i)
		_, b := roundTrip(t, i)
		got := jsonKeys(t, b)
		if !slices.Contains(got, "ended_at") {
			t.Errorf("history info %s has no ended_at", b)
		}
		for _, k := range got {
			if !slices.Contains(wireInfoNames, k) {
				t.Errorf("history info %s has the key %q", b, k)
			}
		}
	}
}

// The names Info and InviteResult have in JSON are their tags, in the
// fields' order, and every one of them is written when the field is set.
func TestWireTags(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v     any
		names []string
	}{
		{call.Info{CallID: "c1", Caller: "alice", Mode: events.Advanced, CreatedAt: at, Timeout: time.Second, ExtendedData: "x",
			Members: []events.Member{{User: "alice", State: events.Accepted}}, EndedAt: at}, wireInfoNames},
		{call.InviteResult{CallID: "c1", Timeout: time.Second, Deadline: at, Failed: []call.Failure{{User: "bob", Err: call.ErrNotPending}},
			Merged: true}, wireResultNames},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var tags []string
		for f := range reflect.TypeOf(tc.v).Fields() {
			tags = append(tags, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		want := slices.Sorted(slices.Values(tc.names))
		if got := jsonKeys(t, b); !slices.Equal(got, want) {
			t.Errorf("%T: keys %q, want %q", tc.v, got, want)
		}
		last := -1
		for _, tag := range tags { // written in the fields' order
			i := strings.Index(string(b), `"`+tag+`":`)
			if i < last {
				t.Errorf("%T: %q out of the fields' order in %s", tc.v, tag, b)
			}
			last = i
		}
		if slices.Sort(tags); !slices.Equal(tags, want) {
			t.Errorf("%T: tags %q, want %q", tc.v, tags, want)
		}
	}
}

// Timeouts travel as whole milliseconds: a sub-millisecond part is dropped;
// what a Duration cannot hold is refused.
func TestWireTimeoutMillis(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                          `"timeout_ms":1000`,
		time.Second + time.Millisecond - 1:   `"timeout_ms":1000`,
		10*time.Minute + time.Nanosecond:     `"timeout_ms":600000`,
		1001 * time.Millisecond:              `"timeout_ms":1001`,
		time.Duration(1<<63 - 1):             `"timeout_ms":9223372036854`,
		time.Millisecond - time.Nanosecond:   `{"call_id":"c1"}`,
		-time.Millisecond - time.Microsecond: `"timeout_ms":-1`,
	} {
		b, err := json.Marshal(call.InviteResult{CallID: "c1", Timeout: d})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%v: %s, want %s", d, b, want)
		}
		var back call.InviteResult
		if err := json.Unmarshal(b, &back); err != nil || back.Timeout != d.Truncate(time.Millisecond) {
			t.Errorf("%v: %s came back as %v, %v", d, b, back.Timeout, err)
		}
		var info call.Info
		if b, _ := json.Marshal(call.Info{Timeout: d}); json.Unmarshal(b, &info) != nil || info.Timeout != d.Truncate(time.Millisecond) {
			t.Errorf("Info %v: %s came back as %v", d, b, info.Timeout)
		}
	}
	for _, in := range []string{`{"timeout_ms":9223372036855}`, `{"timeout_ms":-9223372036855}`, `{"timeout_ms":1.5}`, `{"timeout_ms":"1000"}`} {
		var r call.InviteResult
		err := json.Unmarshal([]byte(in), &r)
		if err == nil {
			t.Errorf("InviteResult %s decoded: %+v", in, r)
		}
		var i call.Info
		if err := json.Unmarshal([]byte(in), &i); err == nil {
			t.Errorf("Info %s decoded: %+v", in, i)
		}
		if strings.Contains(in, "922") && !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", in, err)
		}
	}
	var i call.Info
	if err := json.Unmarshal([]byte(`{"call_id":"c1","mode":"Sideways"}`), &i); err == nil {
		t.Errorf("an unknown mode decoded: %+v", i)
	}
}

// hostErr is a host's error that carries its own code.
type hostErr struct{}

func (hostErr) Error() string { return "on the blocklist" }
func (hostErr) Code() string  { return "blocked" }

// A Failure travels as its user, code and message, and comes back matching
// the sentinel of its code.
func TestWireFailure(t *testing.T) {
	r, _ := call.NewRegistry(call.Options{Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))})
	notFound := r.Accept("bob", "nope", call.AcceptConfig{})
	for _, tc := range []struct {
		f    call.Failure
		want string
	}{
		{call.Failure{User: "zed", Err: errors.New("zed blocks alice")}, `{"user":"zed","code":"refused","message":"zed blocks alice"}`},
		{call.Failure{User: "zed", Err: errors.New("")}, `{"user":"zed","code":"refused"}`},
		{call.Failure{User: "zed", Err: hostErr{}}, `{"user":"zed","code":"blocked","message":"on the blocklist"}`},
		{call.Failure{User: "zed", Err: fmt.Errorf("admit: %w", call.ErrOverloaded)}, `{"user":"zed","code":"overloaded","message":"admit: overloaded: too many events wait"}`},
		{call.Failure{User: "bob", Err: notFound}, `{"user":"bob","code":"call_not_found","message":"callsig: accept call \"nope\" by \"bob\": call not found"}`},
		{call.Failure{User: "bob"}, `{"user":"bob"}`},
	} {
		back, b := roundTrip(t, tc.f)
		if string(b) != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, b, tc.want)
		}
		checkFailure(t, tc.f, back)
		if again, _ := json.Marshal(back); string(again) != tc.want {
			t.Errorf("%s decoded and encoded again: %s", tc.want, again)
		}
	}
	var f call.Failure
	if err := json.Unmarshal([]byte(`{"user":"bob","code":"not_pending","message":"too late"}`), &f); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(f.Err, call.ErrNotPending) || f.Err.Error() != "too late" || call.Code(f.Err) != "not_pending" {
		t.Errorf("decoded %+v: Is ErrNotPending %v, message %q, code %q", f, errors.Is(f.Err, call.ErrNotPending), f.Err, call.Code(f.Err))
	}
	// A code this build does not know, from a newer peer, keeps its code
	// and matches no sentinel.
	if err := json.Unmarshal([]byte(`{"user":"bob","code":"too_soon","message":"later"}`), &f); err != nil {
		t.Fatal(err)
	}
	if call.Code(f.Err) != "too_soon" {
		t.Errorf("unknown code came back as %q", call.Code(f.Err))
	}
	for _, s := range allSentinels {
		if errors.Is(f.Err, s) {
			t.Errorf("an unknown code matches %v", s)
		}
	}
	if err := json.Unmarshal([]byte(`{"user":7}`), &f); err == nil {
		t.Error("a numeric user decoded")
	}
}

// Code gives a command's error its sentinel's code, whatever wraps it; a
// journal refusal is "journal" whatever the Journal's error; nil is "";
// anything else "internal", unless it carries a code.
func TestCode(t *testing.T) {
	failing := errors.New("disk full")
	journalOn := false
	r, _ := call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)),
		Journal: call.JournalFunc(func(call.Entry) error {
			if journalOn {
				return fmt.Errorf("wrapped: %w", call.ErrNotPending) // a Journal whose error happens to wrap a sentinel
			}
			return failing
		}),
	})
	_, errJournal := r.Invite("alice", []string{"bob"}, call.InviteConfig{})
	journalOn = true
	_, errJournal2 := r.Invite("alice", []string{"bob"}, call.InviteConfig{})
	_, errTimeout := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Millisecond})
	_, errOption := call.NewRegistry(call.Options{MaxInvitees: -1})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("boom"), "internal"},
		{failing, "internal"},
		{errJournal, "journal"},
		{errJournal2, "journal"},
		{errTimeout, "invalid_timeout"},
		{errOption, "invalid_option"},
		{fmt.Errorf("host: %w", errTimeout), "invalid_timeout"},
		{fmt.Errorf("host: %w", call.ErrDataTooLarge), "data_too_large"},
		{hostErr{}, "blocked"},
		{errors.Join(errors.New("x"), call.ErrNotInviter), "not_inviter"},
	} {
		if got := call.Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	var e *call.Error
	if !errors.As(errTimeout, &e) || e.Code() != "invalid_timeout" {
		t.Errorf("(*Error).Code of %v: %v", errTimeout, e)
	}
}

// A journal written before Push had JSON names ("Title") still reads.
func TestEntryOldPushNames(t *testing.T) {
	var e call.Entry
	if err := json.Unmarshal([]byte(`{"op":"invite","at":"2026-11-27T09:00:00Z","user":"alice","users":["bob"],"push":{"Title":"t","Content":"c","Payload":"p"}}`), &e); err != nil {
		t.Fatal(err)
	}
	if e.Push == nil || *e.Push != (events.Push{Title: "t", Content: "c", Payload: "p"}) {
		t.Errorf("push %+v", e.Push)
	}
}
