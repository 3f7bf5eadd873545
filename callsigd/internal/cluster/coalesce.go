package cluster

import (
	"context"
	"sync"
)

// coalescer shares one read barrier among the callers that ask for one
// at the same time. A barrier proves what was committed when it started,
// not when its caller arrived: a caller is served only by a round that
// started after it arrived, never by one already under way. So at most
// one round is under way; a caller that arrives while one is joins the
// next, which starts once that one has ended, and every caller of a
// round gets the round's result, index or error. A caller waits for at
// most two rounds: the one under way when it arrived, and its own.
//
// The rounds run on a goroutine of their own, which ends when no caller
// waits for another round: a caller whose context ends leaves at once,
// the others wait on; a round whose callers all left before it started
// is not run. The lock is never held while op runs.
type coalescer struct {
	op func() (uint64, error) // one barrier: its index, or its error

	mu      sync.Mutex
	running bool   // a round is under way: its goroutine runs
	next    *round // the round a caller arriving now joins; nil: none yet
}

// round is one run of a coalescer's op and the callers it serves.
type round struct {
	waiters int           // the callers that still wait for it, until it starts
	done    chan struct{} // closed once index and err are set
	index   uint64
	err     error
}

// newCoalescer returns a coalescer of op, which must return in bounded
// time (its own timeouts bound it).
func newCoalescer(op func() (uint64, error)) *coalescer {
	return &coalescer{op: op}
}

// do returns the result of a round of op that started after do was
// called, or ctx.Err() itself once ctx ends first.
func (co *coalescer) do(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	co.mu.Lock()
	r := co.next
	if r == nil {
		r = &round{done: make(chan struct{})}
		co.next = r
	}
	r.waiters++
	if !co.running {
		co.running, co.next = true, nil
		go co.run(r)
	}
	co.mu.Unlock()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		co.mu.Lock()
		if co.next == r { // not started: it need not run for this caller
			if r.waiters--; r.waiters == 0 {
				co.next = nil
			}
		}
		co.mu.Unlock()
		return 0, ctx.Err()
	}
}

// run runs r, then every next round that has callers, one after the
// other, and ends when there is none.
func (co *coalescer) run(r *round) {
	for r != nil {
		r.index, r.err = co.op()
		close(r.done)
		co.mu.Lock()
		r, co.next = co.next, nil
		co.running = r != nil
		co.mu.Unlock()
	}
}
