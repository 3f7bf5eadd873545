package call

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/calltable"
	"github.com/callsig/callsig/internal/core"
	"github.com/callsig/callsig/internal/deadline"
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
type Registry struct {
	s settings

	mu      sync.Mutex
	calls   calltable.Table[*callRecord]
	users   userTable
	due     deadline.Heap[*callRecord]
	beats   beatHeap  // H5: online devices by heartbeat deadline
	beatSeq uint64    // H5: heartbeats so far, for their order
	last    time.Time // the latest clock reading an input took effect at (D3; see commit)
	seen    time.Time // the latest clock reading, refused inputs included: timers count from it
	read    time.Time // the clock's reading at the input under way, not clamped (D3)
	order   uint64    // calls created so far: the creation order of the Time rule

	timer    clock.Timer // the clock timer, once made (nil before)
	armed    bool        // timer is pending, for timerAt
	timerAt  time.Time
	timerGen uint64    // which timer a firing belongs to, for Clocks whose timers cannot be reset
	retryAt  time.Time // after the Journal refused the passing of time: not before then (D1)

	entry      Entry   // the input under way, for the Journal
	admitErrs  []error // the live Admit errors behind entry.Admit
	admitAsked bool    // Options.Admit was asked for the input under way
	replaying  bool    // Apply: the entry comes from a journal; write none, make no ID
	recovering bool    // Recover: arm no timer until the last entry is applied

	idle      idleList     // users kept only for their history, longest idle first (H8)
	freeUsers []*user      // dropped user records, for reuse (see settle)
	linkBuf   []membership // scratch for walking a user's calls

	recycler recycler // Options.TransientMembers: memory to reuse (recycle.go)

	// Delivery (delivery.go).
	out        core.Outbox    // events produced, not yet delivered
	freeQueue  []events.Event // the buffer last delivered, emptied, for the next queue
	delivering bool           // a goroutine delivers: an input's, or the drain goroutine
	inFlight   int            // events of the batch being delivered (Backlog)
	taken      uint64         // events ever taken out of out for delivery
	target     uint64         // the delivering input stops once taken reaches it (C3)
	waiters    int            // inputs waiting in passSlice
	sliceDone  sync.Cond      // on mu: a batch went out (passSlice waits for it)

	// Written outside the lock, by one goroutine while another holds it:
	// each on a cache line of its own, so that neither slows the holder.
	_        [64]byte
	underway atomic.Int64 // inputs begun and not yet at finish (handOff)
	_        [56]byte
	emits    atomic.Uint64 // batches begun and ended by deliverers: odd while one is under way (nested)
	_        [56]byte
}

// NewRegistry returns an empty Registry. It fails with ErrInvalidOption if
// an option is out of range (see Options).
func NewRegistry(o Options) (*Registry, error) {
	s, err := o.resolve()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		s:         s,
		calls:     calltable.New[*callRecord](),
		users:     newUserTable(),
		freeUsers: make([]*user, 0, maxFreeUsers),
	}
	r.sliceDone.L = &r.mu
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
