package core

import (
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/callsig/callsig/events"
)

// An apply cannot fail: after any check that passed, on any call the rules
// can reach, the apply runs to its end and leaves a call whose counters,
// deadlines and Seq agree with its members and events. And a check that
// refuses changes nothing. Random calls, random commands by random users
// with arguments good and bad, until the call is over.
func TestApplyAfterPassingCheckNeverFails(t *testing.T) {
	users := []string{"a", "b", "c", "d", "e", ""}
	rapid.Check(t, func(t *rapid.T) {
		mode := rapid.SampledFrom([]events.Mode{events.General, events.Advanced}).Draw(t, "mode")
		lim := Limits{MaxInvitees: 4, MaxTimeout: 10 * time.Minute, MaxData: 4,
			NotReceived: time.Duration(rapid.IntRange(0, 2).Draw(t, "notReceived")) * 10 * time.Second}
		invitees := rapid.SliceOfNDistinct(rapid.SampledFrom(users[1:5]), 1, 3, rapid.ID[string]).Draw(t, "invitees")
		c := &Call{}
		c.Attach(make([]events.Member, 1+len(invitees)))
		now := t0
		c.Open(now, &Opening{ID: "c1", Caller: "a", Invitees: invitees, Mode: mode, Timeout: time.Minute})
		var out Outbox
		online, busy := drawSet(t, "online", len(c.Members())), drawSet(t, "busy", len(c.Members()))
		busy[0] &^= 1 // the caller is never busy-rejected
		c.Ring(now, online, busy, &lim, &out)
		checkCall(t, c, 0, &out)
		for step := 0; step < 30 && !c.Over(); step++ {
			online = drawSet(t, "online", len(c.Members()))
			now = now.Add(time.Duration(rapid.IntRange(0, 30).Draw(t, "wait")) * time.Second)
			user := rapid.SampledFrom(users).Draw(t, "user")
			data := rapid.SampledFrom([]string{"", "dd", "toolong"}).Draw(t, "data")
			device := rapid.SampledFrom([]string{"", "phone", "bad\x00"}).Draw(t, "device")
			list := rapid.SliceOfN(rapid.SampledFrom(users), 0, 3).Draw(t, "list")
			before, seq := viewOf(c), c.seq
			out.Events = out.Events[:0]
			var r Refusal
			noop := false
			member := c.Index(user) >= 0 // the driver asks the core only about its members (G10)
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op <= 1 && member:
				var a Answer
				if a, r = c.CheckAnswer(user, op == 0, data, device, lim.MaxData); !r.Refused() && !a.Noop {
					c.ApplyAnswer(now, a, online, &out)
				}
				noop = a.Noop
			case op == 2 && member:
				var p Cancellation
				if p, r = c.CheckCancel(user, list, data, nil, lim.MaxData); !r.Refused() {
					c.ApplyCancel(now, p, online, &out)
				}
			case op == 3 && member:
				c.LoggedIn(now, c.Index(user), "phone", online, &out)
			case op == 4:
				next, kind := c.NextDue()
				if !next.IsZero() {
					now = maxTime(now, next)
					c.Expire(next, kind, online, &out)
				}
			case op == 5 && user == "a":
				c.CallerOffline(now, online, &out)
			case op == 6 && member && mode == events.Advanced:
				var a Action
				if a, r = c.CheckJoin(user, data, device, lim.MaxData); !r.Refused() && !a.Noop {
					c.ApplyJoin(now, a, online, &out)
				}
				noop = a.Noop
			case op == 7 && member && mode == events.Advanced:
				var a Action
				if a, r = c.CheckQuit(user, data, device, lim.MaxData); !r.Refused() {
					c.ApplyQuit(now, a, online, &out)
				}
			case op == 8 && member && mode == events.Advanced:
				var a Action
				if a, r = c.CheckEnd(user, data, device, lim.MaxData); !r.Refused() {
					c.ApplyEnd(now, a, online, &out)
				}
			case op == 9 && member && mode == events.Advanced:
				args := InviteArgs{User: user, List: list, Default: c.Timeout()}
				var timeout time.Duration
				if timeout, r = c.CheckCallingInvite(&args, &lim); !r.Refused() {
					if need := len(c.Members()) + c.Newcomers(list); need > c.Room() {
						c.Attach(make([]events.Member, need)) // the driver's growth
					}
					c.Enrol(list)
					online = drawSet(t, "online", len(c.Members()))
					busy = drawSet(t, "busy", len(c.Members()))
					c.ApplyCallingInvite(now, user, list, timeout, nil, online, busy, &lim, &out)
				}
			}
			if r.Refused() || noop {
				if len(out.Events) > 0 || !reflect.DeepEqual(viewOf(c), before) {
					t.Fatalf("a refused check (%+v) or a no-op changed the call or emitted %d events", r, len(out.Events))
				}
				continue
			}
			checkCall(t, c, seq, &out)
		}
	})
}

// drawSet draws a set of the positions 0..n-1.
func drawSet(t *rapid.T, label string, n int) Set {
	var s Set
	for i, in := range rapid.SliceOfN(rapid.Bool(), n, n).Draw(t, label) {
		if in {
			s.Add(i)
		}
	}
	return s
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkCall fails t unless c agrees with itself after a change that
// emitted out.Events from Seq seq on.
func checkCall(t *rapid.T, c *Call, seq uint64, out *Outbox) {
	checkCounters(t, c)
	for i, m := range c.Members() {
		if m.State.Pending() == m.Deadline.IsZero() {
			t.Fatalf("member %d: %v with deadline %v: set exactly while pending", i, m.State, m.Deadline)
		}
		if i == 0 && m.State != events.Accepted && m.State != events.Quit {
			t.Fatalf("the caller is %v", m.State)
		}
	}
	for k, e := range out.Events {
		if e.Seq != seq+uint64(k)+1 || e.CallID != c.ID() || len(e.Members) == 0 {
			t.Fatalf("event %d (%v): Seq %d after %d, call %q, %d members", k, e.Kind, e.Seq, seq, e.CallID, len(e.Members))
		}
	}
	if c.seq != seq+uint64(len(out.Events)) {
		t.Fatalf("Seq %d after %d events from %d", c.seq, len(out.Events), seq)
	}
	if c.mode == events.General && !c.Over() && c.pending == 0 {
		t.Fatal("a general call with nobody pending is live (G6)")
	}
}

// With TransientMembers the arena keeps the chunks of delivered batches
// for reuse, but a bounded number of them, and holding nothing of the
// lists cut from them.
func TestArenaKeepsBoundedClearedChunks(t *testing.T) {
	var a Arena
	out := Outbox{}
	out.UseArena(&a)
	for batch := range 3 * maxFreeChunks {
		for range 3 * arenaChunk / 4 { // most batches span two chunks
			out.list(1)[0] = events.Member{User: "u", Data: "d"}
		}
		if batch%5 == 4 { // a batch whose delivery panicked is dropped, not reused
			a.Seal()
			continue
		}
		a.Seal()
		a.Recycle()
	}
	if n := len(a.freeChunks); n == 0 || n > maxFreeChunks {
		t.Fatalf("%d chunks kept, want 1 to %d", n, maxFreeChunks)
	}
	for _, ch := range a.freeChunks {
		if len(ch) != arenaChunk {
			t.Fatalf("a kept chunk has %d members, want %d", len(ch), arenaChunk)
		}
		for _, m := range ch {
			if m != (events.Member{}) {
				t.Fatalf("a kept chunk keeps member %+v", m)
			}
		}
	}
}
