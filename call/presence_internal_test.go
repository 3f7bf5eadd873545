package call

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// fataler is what checkUsers needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkUsers checks the user table and the users' lists of calls against
// the live calls: every member of a live call is linked, and its user's
// list holds exactly its live calls, oldest first, with prev of the first
// link pointing to the last; a user with a record is reached through it
// (and every link of its carries it), one without through its oldest
// call, or, online on the default device in no call, through its ID
// alone (and every link of its carries &onlineDefault exactly when it is
// online); a user has a record exactly when needsRecord says it needs one;
// the idle list holds exactly the records with nothing but a history, at
// most its bound of them (H8); the online devices are as many as counted;
// and nobody else is in the table.
func checkUsers(t fataler, r *Registry) {
	t.Helper()
	want := map[string][]*memberLink{}
	r.calls.Each(func(c *callRecord) {
		for i := range c.links() {
			l := &c.links()[i]
			if l.c != c {
				t.Fatalf("call %s: member %d is not linked", c.ID(), i)
			}
			id := c.Members()[i].User
			want[id] = append(want[id], l)
		}
	})
	n, online := 0, 0
	for i, p := range r.users.slots {
		if p.p == nil {
			continue
		}
		n++
		id := r.users.key(i)
		if j, _, ok := r.users.find(id); !ok || j != i {
			t.Fatalf("user %s in slot %d is not found there (%d, %v)", id, i, j, ok)
		}
		u := r.users.rec(i)
		if u != nil && (u.id != id || u.head == nil && !u.online() && len(u.history()) == 0) {
			t.Fatalf("user %s: record of %q, holding nothing", id, u.id)
		}
		devices := r.users.devices(i)
		hist := 0
		if u != nil {
			hist = len(u.history())
		}
		if need := r.needsRecord(devices, hist); need != (u != nil) {
			t.Fatalf("user %s: a record %v, online on %q with %d history entries: needs one %v", id, u != nil, devices, hist, need)
		}
		if p.online && (p.kind == 0 || p.kind == noCall) || p.kind == noCall && p.idLen == 0 {
			t.Fatalf("user %s: slot of kind %d, online %v, ID length %d", id, p.kind, p.online, p.idLen)
		}
		online += len(devices)
		if u != nil && u.isIdle() != (u.head == nil && !u.online()) {
			t.Fatalf("user %s: on the idle list %v, with %d devices and calls %v", id, u.isIdle(), len(u.devices), u.head != nil)
		}
		head := r.users.head(i)
		if u == nil && head == nil && len(devices) == 0 {
			t.Fatalf("user %s: no record, no call and no device", id)
		}
		wantU := u
		if u == nil && len(devices) > 0 {
			wantU = &onlineDefault
		}
		var got []*memberLink
		for l := head; l != nil; l = l.next {
			if l.u != wantU || l.c.Members()[l.index()].User != id || l.next != nil && l.next.prev != l {
				t.Fatalf("user %s: a link of call %s is filed wrong", id, l.c.ID())
			}
			if len(got) > len(want[id]) {
				t.Fatalf("user %s: the list loops", id)
			}
			got = append(got, l)
		}
		if len(got) > 0 && head.prev != got[len(got)-1] {
			t.Fatalf("user %s: the first link's prev is not the last", id)
		}
		exp := want[id]
		slices.SortFunc(exp, func(a, b *memberLink) int { return int(a.c.order) - int(b.c.order) })
		if !slices.Equal(got, exp) {
			t.Fatalf("user %s: lists %d calls, want its %d live ones, oldest first", id, len(got), len(exp))
		}
		delete(want, id)
	}
	for id := range want {
		t.Fatalf("user %s is in a live call but not in the table", id)
	}
	if n != r.users.len() {
		t.Fatalf("%d users in the table, it counts %d", n, r.users.len())
	}
	if online != r.users.online {
		t.Fatalf("%d devices online, counted %d", online, r.users.online)
	}
	if len(onlineDefault.devices) != 1 || onlineDefault.devices[0] != "" || onlineDefault.id != "" || onlineDefault.head != nil || onlineDefault.extra != nil {
		t.Fatalf("onlineDefault was written: %+v", onlineDefault)
	}
	idle := 0
	for u := r.users.idle.head; u != nil; u = u.extra.idleNext {
		if idle++; !u.isIdle() || r.record(u.id) != u || idle > r.users.idle.n {
			t.Fatalf("idle user %s: not in the table, or the idle list is broken", u.id)
		}
		if next := u.extra.idleNext; next == nil && r.users.idle.tail != u || next != nil && next.extra.idlePrev != u {
			t.Fatalf("idle user %s: the idle list is broken", u.id)
		}
	}
	if idle != r.users.idle.n || idle > r.users.idle.bound() {
		t.Fatalf("%d users on the idle list, it counts %d, bound %d", idle, r.users.idle.n, r.users.idle.bound())
	}
	for _, u := range r.users.free {
		if u.id != "" || u.head != nil || len(u.devices) > 0 || len(u.history()) > 0 {
			t.Fatalf("a spare user record holds something")
		}
	}
}

// The users' lists and the user table under any sequence of inputs, with
// every policy that reads them: calls of both modes between a few users,
// advanced calls grown past their records' room (their links move), every
// way a call ends, devices logging in and out and missing heartbeats,
// with and without History.
func TestUserListsRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		o := Options{Clock: clk, Sink: events.Discard, MaxInvitees: 20}
		o.History = rapid.SampledFrom([]int{0, 2}).Draw(t, "history")
		o.HeartbeatTimeout = time.Duration(rapid.IntRange(0, 1).Draw(t, "heartbeat")) * 4 * time.Second
		o.Busy = rapid.SampledFrom([]BusyPolicy{BusyOff, BusyInCall}).Draw(t, "busy")
		o.Glare = rapid.SampledFrom([]GlarePolicy{GlareOff, GlareMerge}).Draw(t, "glare")
		r, err := NewRegistry(o)
		if err != nil {
			t.Fatal(err)
		}
		r.users.idle.max = rapid.IntRange(1, 4).Draw(t, "idle bound")
		pool := make([]string, 14)
		for i := range pool {
			pool[i] = fmt.Sprintf("u%d", i)
		}
		user := rapid.SampledFrom(pool)
		var ids []string
		callID := func(t *rapid.T) string {
			if len(ids) == 0 {
				return "none"
			}
			return rapid.SampledFrom(ids).Draw(t, "call")
		}
		list := func(t *rapid.T, n int) []string {
			return rapid.SliceOfNDistinct(user, 1, n, rapid.ID[string]).Draw(t, "list")
		}
		t.Repeat(map[string]func(*rapid.T){
			"invite": func(t *rapid.T) {
				mode := rapid.SampledFrom([]events.Mode{events.General, events.Advanced}).Draw(t, "mode")
				res, err := r.Invite(user.Draw(t, "caller"), list(t, 3), InviteConfig{Mode: mode, Timeout: time.Duration(rapid.IntRange(1, 5).Draw(t, "timeout")) * time.Second})
				if err == nil && !res.Merged {
					ids = append(ids, res.CallID)
				}
			},
			"answer": func(t *rapid.T) {
				if rapid.Bool().Draw(t, "accept") {
					_ = r.Accept(user.Draw(t, "user"), callID(t), AcceptConfig{})
				} else {
					_ = r.Reject(user.Draw(t, "user"), callID(t), RejectConfig{})
				}
			},
			"cancel": func(t *rapid.T) {
				_, _ = r.Cancel(user.Draw(t, "user"), callID(t), nil, CancelConfig{})
			},
			"callingInvite": func(t *rapid.T) {
				_, _ = r.CallingInvite(user.Draw(t, "user"), callID(t), list(t, 8), CallingInviteConfig{})
			},
			"join": func(t *rapid.T) { _, _ = r.Join(user.Draw(t, "user"), callID(t), JoinConfig{}) },
			"quit": func(t *rapid.T) { _ = r.Quit(user.Draw(t, "user"), callID(t), QuitConfig{}) },
			"end":  func(t *rapid.T) { _ = r.End(user.Draw(t, "user"), callID(t), EndConfig{}) },
			"login": func(t *rapid.T) {
				r.Login(user.Draw(t, "user"), rapid.SampledFrom([]string{"", "b"}).Draw(t, "device"))
			},
			"logout": func(t *rapid.T) {
				r.Logout(user.Draw(t, "user"), rapid.SampledFrom([]string{"", "b"}).Draw(t, "device"))
			},
			"heartbeat": func(t *rapid.T) {
				r.Heartbeat(user.Draw(t, "user"), rapid.SampledFrom([]string{"", "b"}).Draw(t, "device"))
			},
			"advance": func(t *rapid.T) {
				clk.Advance(time.Duration(rapid.IntRange(1, 3).Draw(t, "seconds")) * time.Second)
			},
			"": func(t *rapid.T) { checkUsers(t, r) },
		})
	})
}

// H8: users kept only for their history count toward a bound, the longest
// idle dropped first, history and all; a user that comes back before it is
// dropped keeps its history; and a Registry restored from a snapshot drops
// the same users as the one it was taken from (D2, C4).
func TestIdleUsersBounded(t *testing.T) {
	const bound = 50
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r, err := NewRegistry(Options{Clock: clk, Sink: events.Discard, History: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.users.idle.max = bound
	n := 0
	// call makes a call between two new users and rejects it: both are
	// idle from then on, caller first. Its ID is n's, so that a restored
	// Registry given the same calls has the same history.
	call := func(r *Registry) (caller, callee string) {
		n++
		caller, callee = fmt.Sprintf("a%d", n), fmt.Sprintf("b%d", n)
		res, err := r.Invite(caller, []string{callee}, InviteConfig{CallID: fmt.Sprintf("c%d", n)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reject(callee, res.CallID, RejectConfig{}); err != nil {
			t.Fatal(err)
		}
		return caller, callee
	}
	hasHistory := func(r *Registry, u string) bool {
		calls, _, err := r.History(u, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(calls) > 0
	}
	for range 3 * bound {
		call(r)
	}
	checkUsers(t, r)
	if r.users.idle.n != bound || r.users.len() != bound {
		t.Fatalf("%d idle users, %d in the table, want %d of each", r.users.idle.n, r.users.len(), bound)
	}
	// The last bound/2 calls' users are kept, the longest idle first.
	if r.users.idle.head.id != fmt.Sprintf("a%d", n-bound/2+1) || r.users.idle.tail.id != fmt.Sprintf("b%d", n) {
		t.Fatalf("idle from %s to %s, want a%d to b%d", r.users.idle.head.id, r.users.idle.tail.id, n-bound/2+1, n)
	}
	if hasHistory(r, fmt.Sprintf("b%d", n-bound/2)) || !hasHistory(r, fmt.Sprintf("a%d", n-bound/2+1)) {
		t.Fatal("the users dropped are not the longest idle")
	}
	// Two more idle users drop the two longest idle ones only.
	first := r.users.idle.head
	oldest, second, third := first.id, first.extra.idleNext.id, first.extra.idleNext.extra.idleNext.id
	c, _ := call(r)
	if hasHistory(r, oldest) || hasHistory(r, second) || !hasHistory(r, third) || !hasHistory(r, c) || r.users.idle.n != bound {
		t.Fatalf("after one more call: %s kept %v, %s kept %v, %s kept %v, %s has history %v, %d idle",
			oldest, hasHistory(r, oldest), second, hasHistory(r, second), third, hasHistory(r, third), c, hasHistory(r, c), r.users.idle.n)
	}
	// A user that comes back (Login) before it is dropped is no longer
	// idle: it outlives any churn, history kept, and is idle again, the
	// newest, once it logs out.
	back := r.users.idle.head.id
	r.Login(back, "")
	for range bound {
		call(r)
	}
	if !hasHistory(r, back) || r.record(back).isIdle() {
		t.Fatalf("%s came back: history %v, idle %v", back, hasHistory(r, back), r.record(back).isIdle())
	}
	r.Logout(back, "")
	if r.users.idle.tail.id != back || r.users.idle.n != bound {
		t.Fatalf("%s logged out: the newest idle is %s (%d idle)", back, r.users.idle.tail.id, r.users.idle.n)
	}
	// So does a user that comes back with a call.
	again := r.users.idle.head.id
	res, err := r.Invite("host", []string{again}, InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range bound {
		call(r)
	}
	if _, ok := r.Call(res.CallID); !ok || !hasHistory(r, again) {
		t.Fatalf("%s, in a call, lost its history", again)
	}
	checkUsers(t, r)

	// A restored Registry drops the same users, in the same order.
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(snap, Options{Clock: clk, Sink: events.Discard, History: 2})
	if err != nil {
		t.Fatal(err)
	}
	r2.users.idle.max = bound
	checkUsers(t, r2)
	for range bound / 3 {
		n0 := n
		call(r)
		n = n0
		call(r2)
	}
	if _, err := r.Cancel("host", res.CallID, nil, CancelConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Cancel("host", res.CallID, nil, CancelConfig{}); err != nil {
		t.Fatal(err)
	}
	var order, order2 []string
	for u := r.users.idle.head; u != nil; u = u.extra.idleNext {
		order = append(order, u.id)
	}
	for u := r2.users.idle.head; u != nil; u = u.extra.idleNext {
		order2 = append(order2, u.id)
	}
	if !slices.Equal(order, order2) {
		t.Fatalf("idle order after the same inputs:\n live     %v\n restored %v", order, order2)
	}
	a, _ := r.Snapshot()
	b, _ := r2.Snapshot()
	if string(a) != string(b) {
		t.Fatal("the live and the restored Registry differ after the same inputs")
	}
}

// H8 with the real bound: churning far more users than maxIdleUsers keeps
// exactly maxIdleUsers of them, and no record of anyone else.
func TestIdleUsersBoundedDefault(t *testing.T) {
	if maxIdleUsers != 100_000 {
		t.Fatalf("maxIdleUsers is %d: the godoc of Registry.History and Options.History says 100,000", maxIdleUsers)
	}
	if testing.Short() {
		t.Skip("more than maxIdleUsers users")
	}
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r, err := NewRegistry(Options{Clock: clk, Sink: events.Discard, History: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxIdleUsers * 3 / 4 {
		res, err := r.Invite(fmt.Sprintf("a%d", i), []string{fmt.Sprintf("b%d", i)}, InviteConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Cancel(fmt.Sprintf("a%d", i), res.CallID, nil, CancelConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if r.users.idle.n != maxIdleUsers || r.users.len() != maxIdleUsers {
		t.Fatalf("%d idle users, %d in the table, want %d", r.users.idle.n, r.users.len(), maxIdleUsers)
	}
	if want := fmt.Sprintf("a%d", maxIdleUsers/4); r.users.idle.head.id != want {
		t.Fatalf("the longest idle is %s, want %s", r.users.idle.head.id, want)
	}
}

// D2 for H8's idle order: a snapshot's idle places must be exactly those of
// the users with nothing but a history, 1 to n; anything else is a state
// the rules cannot reach, and refused.
func TestRestoreRefusesBadIdleOrder(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o := Options{Clock: clk, Sink: events.Discard, History: 2}
	r, err := NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"a", "b"}, {"c", "d"}} {
		res, err := r.Invite(pair[0], []string{pair[1]}, InviteConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reject(pair[1], res.CallID, RejectConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(b, o); err != nil {
		t.Fatalf("the snapshot as taken: %v", err)
	}
	for name, edit := range map[string]func(s *legacySnap){
		"not idle":  func(s *legacySnap) { s.History[0].Idle = 0 },
		"repeated":  func(s *legacySnap) { s.History[0].Idle = s.History[1].Idle },
		"gap":       func(s *legacySnap) { s.History[0].Idle = len(s.History) },
		"too large": func(s *legacySnap) { s.History[0].Idle = len(s.History) + 1 },
		"negative":  func(s *legacySnap) { s.History[0].Idle = -1 },
		"online": func(s *legacySnap) {
			s.Users = append(s.Users, legacyDevice{User: s.History[0].User, Devices: []string{""}})
		},
	} {
		var s legacySnap
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if len(s.History) != 4 {
			t.Fatalf("%d users with history in the snapshot, want 4", len(s.History))
		}
		edit(&s)
		bad, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(bad, o); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Restore gave %v, want ErrInvalidArgument", name, err)
		}
	}
}
