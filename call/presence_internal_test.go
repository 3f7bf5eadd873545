package call

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
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
// call; a record holds something (a device, a call or a history); and
// nobody else is in the table.
func checkUsers(t fataler, r *Registry) {
	t.Helper()
	want := map[string][]*memberLink{}
	r.calls.each(func(c *callState) {
		for i := range c.links() {
			l := &c.links()[i]
			if l.c != c {
				t.Fatalf("call %s: member %d is not linked", c.id, i)
			}
			id := c.members()[i].User
			want[id] = append(want[id], l)
		}
	})
	n := 0
	for i, p := range r.users.slots {
		if p == nil {
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
		head := r.users.head(i)
		if u == nil && head == nil {
			t.Fatalf("user %s: no record and no call", id)
		}
		var got []*memberLink
		for l := head; l != nil; l = l.next {
			if l.u != u || l.c.members()[l.index()].User != id || l.next != nil && l.next.prev != l {
				t.Fatalf("user %s: a link of call %s is filed wrong", id, l.c.id)
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
	for _, u := range r.spareUsers {
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
		pool := make([]string, 14)
		for i := range pool {
			pool[i] = fmt.Sprintf("u%d", i)
		}
		user := rapid.SampledFrom(pool)
		var ids []string
		callID := func(t *rapid.T) string {
			if len(ids) == 0 {
				t.Skip("no calls")
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
