package call

import (
	"sync"

	"github.com/callsig/callsig/internal/calltable"
)

// Registry holds every live call and drives their machines: it owns the lock,
// reads the clock, keeps one clock timer for the earliest deadline, and
// delivers the events the machines produce to the Sink. It is safe for
// concurrent use (C1).
//
// Every input — a command, Login, Logout, or the clock's timer firing — reads
// the clock once and first processes everything that fell due up to that
// reading (the Time rule of RULES.md §2), so an answer that arrives after its
// deadline finds the invitation timed out however late the timer fired. A
// reading earlier than the last one counts as the last one (D3), where the
// last one is that of the latest input that took effect: a refused command,
// or one that changes nothing, is not journaled and leaves it, so that a
// replay rebuilds it (D1, D2).
//
// Events reach the Sink after the change that made them is complete and
// outside every lock (C2). A Sink may call the Registry from inside Emit;
// such a nested command queues its events, and the outermost call delivers
// them, in Seq order, before it returns (C3).
//
// The Clock, and Options.NewID, are called with the Registry's lock held:
// they must not call back into the Registry (clock.Real and clock.Manual
// never do).
//
// A Registry needs no closing. Its one clock timer may stay armed once
// nothing is due (see RULES.md G6), and keeps the Registry reachable until
// it fires: a Registry a host drops is collected after its latest deadline
// at the most.
type Registry struct {
	s  settings
	mu sync.Mutex // guards everything below but the atomics at the end of out

	time     timeState    // the readings and the timer (time.go)
	calls    liveCalls    // the live calls, by ID and by deadline (calls.go)
	users    presence     // users: records, devices, heartbeats, idle users (presence.go)
	recycler recycler     // Options.TransientMembers: memory to reuse (recycle.go)
	warmed   uint32       // what warm loaded last (commands.go)
	stats    counters     // what Stats reports (stats.go)
	jnl      journalState // entries journaled and durable; a failed Sync (commit.go)
	logs     logQueue     // Logger lines noted under the lock, written after it (stats.go)
	out      delivery     // events on their way to the Sink (delivery.go); last, for its padding
}

// NewRegistry returns an empty Registry. It fails with ErrInvalidOption if
// an option is out of range (see Options).
func NewRegistry(o Options) (*Registry, error) {
	s, err := o.resolve()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		s:     s,
		calls: liveCalls{Table: calltable.New[*callRecord]()},
		users: presence{userTable: newUserTable(), free: make([]*user, 0, maxFreeUsers)},
	}
	r.out.sliceDone.L = &r.mu
	r.jnl.syncer, _ = s.journal.(Syncer)
	if s.transient {
		r.out.UseArena(&r.recycler.arena)
	}
	return r, nil
}

// Call returns a copy of a live call's state, and false if there is no such
// call or it is over. It reads no clock and processes nothing (D4): an
// invitation whose deadline passed a moment ago may still show as pending.
func (r *Registry) Call(callID string) (Info, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls.Get(callID)
	if c == nil {
		return Info{}, false
	}
	return c.info(), true
}

// Len returns the number of calls not yet over (D4).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls.Len()
}
