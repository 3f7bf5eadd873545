package call_test

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/looplab/fsm"
)

// baseline is the same general-mode lifecycle built the plain way, as a
// developer would write it in an afternoon on looplab/fsm: one fsm.FSM per
// member, a map of calls under one mutex, one clock timer per call, events
// to the same Sink, and call IDs that cannot be guessed, made by
// call.NewCallID as the Registry's default NewID makes them (G10 holds for
// it too), so that both pay the same for an ID. The
// benchmarks run it beside the Registry (B1) and report the ratio; it is
// not used anywhere else.
type baseline struct {
	mu    sync.Mutex
	clk   clock.Clock
	sink  events.Sink
	calls map[string]*baseCall
}

type baseCall struct {
	id, caller string
	invitees   []string
	members    map[string]*fsm.FSM
	timer      clock.Timer
	seq        uint64
	deadline   time.Time
}

var baseEvents = fsm.Events{
	{Name: "accept", Src: []string{"Inviting", "Received"}, Dst: "Accepted"},
	{Name: "reject", Src: []string{"Inviting", "Received"}, Dst: "Rejected"},
	{Name: "cancel", Src: []string{"Inviting", "Received"}, Dst: "Cancelled"},
	{Name: "timeout", Src: []string{"Inviting", "Received"}, Dst: "Timeout"},
}

func newBaseline(clk clock.Clock, sink events.Sink) *baseline {
	return &baseline{clk: clk, sink: sink, calls: map[string]*baseCall{}}
}

func (b *baseline) emit(c *baseCall, e events.Event) {
	c.seq++
	e.CallID, e.Seq, e.Caller = c.id, c.seq, c.caller
	b.sink.Emit(e) // the afternoon version calls the sink under its lock
}

func (b *baseline) Invite(caller string, invitees []string, timeout time.Duration) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := call.NewCallID() // as the Registry makes its IDs by default (G10 holds for the baseline too)
	now := b.clk.Now()
	c := &baseCall{id: id, caller: caller, invitees: invitees, members: map[string]*fsm.FSM{}, deadline: now.Add(timeout)}
	c.members[caller] = fsm.NewFSM("Accepted", baseEvents, fsm.Callbacks{}) // one FSM per member, the caller too
	for _, u := range invitees {
		c.members[u] = fsm.NewFSM("Received", baseEvents, fsm.Callbacks{})
	}
	b.calls[id] = c
	c.timer = b.clk.AfterFunc(timeout, func() { b.expire(id) })
	b.emit(c, events.Event{Kind: events.InvitationCreated, To: caller, At: now, From: caller, Deadline: c.deadline})
	for _, u := range invitees {
		b.emit(c, events.Event{Kind: events.InvitationReceived, To: u, At: now, From: caller, Deadline: c.deadline,
			Members: []events.Member{{User: u, State: events.Received, Inviter: caller, Deadline: c.deadline}}})
	}
	return id, nil
}

func (b *baseline) answer(user, id, ev string, kind events.Kind) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls[id]
	if c == nil {
		return errors.New("call not found")
	}
	f := c.members[user]
	if f == nil || user == c.caller {
		return errors.New("not an invitee")
	}
	if err := f.Event(context.Background(), ev); err != nil {
		return err
	}
	st, _ := stateByName(f.Current())
	m := []events.Member{{User: user, State: st, Inviter: c.caller}}
	now := b.clk.Now()
	b.emit(c, events.Event{Kind: kind, To: c.caller, At: now, From: user, Members: m})
	b.emit(c, events.Event{Kind: events.UserStateChanged, To: user, At: now, From: user, Members: m})
	b.settle(c)
	return nil
}

func (b *baseline) Accept(user, id string) error {
	return b.answer(user, id, "accept", events.InvitationAccepted)
}

func (b *baseline) Reject(user, id string) error {
	return b.answer(user, id, "reject", events.InvitationRejected)
}

func (b *baseline) Cancel(caller, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls[id]
	if c == nil || c.caller != caller {
		return errors.New("call not found")
	}
	now := b.clk.Now()
	for _, u := range c.invitees {
		if err := c.members[u].Event(context.Background(), "cancel"); err == nil {
			b.emit(c, events.Event{Kind: events.InvitationCancelled, To: u, At: now, From: caller,
				Members: []events.Member{{User: u, State: events.Cancelled, Inviter: caller}}})
		}
	}
	b.settle(c)
	return nil
}

func (b *baseline) expire(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls[id]
	if c == nil {
		return
	}
	now := b.clk.Now()
	var out []events.Member
	for _, u := range c.invitees {
		if c.members[u].Event(context.Background(), "timeout") == nil {
			out = append(out, events.Member{User: u, State: events.Timeout, Inviter: c.caller})
		}
	}
	b.emit(c, events.Event{Kind: events.InviteesAnsweredTimeout, To: c.caller, At: now, Members: out})
	for i := range out {
		b.emit(c, events.Event{Kind: events.InvitationTimeout, To: out[i].User, At: now, Members: out[i : i+1]})
	}
	b.settle(c)
}

func (b *baseline) settle(c *baseCall) {
	for _, u := range c.invitees {
		f := c.members[u]
		if f.Current() == "Received" {
			return
		}
	}
	c.timer.Stop()
	delete(b.calls, c.id)
}

func stateByName(s string) (events.State, bool) { return events.ParseState(s) }

// The baseline's call IDs are as hard to guess as the Registry's (G10):
// 128 random bits, all distinct.
func TestBaselineIDsAreRandom(t *testing.T) {
	base := newBaseline(clock.NewManual(t0), events.Discard)
	seen := map[string]bool{}
	for i := range 1000 {
		id, err := base.Invite(users[i%2048], []string{users[2048+i%2048]}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 16 || seen[id] {
			t.Fatalf("call ID %q: want 16 random bytes, URL-safe, never repeated (decoded %d bytes, %v)", id, len(raw), err)
		}
		seen[id] = true
	}
}
