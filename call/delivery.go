package call

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// Delivery: how the events the machines queue in r.out reach the Sink.
//
// One goroutine at a time delivers (deliveringBit is set in r.out.state
// while one does), so the events of a call reach the Sink in Seq order and
// Emit is never called concurrently for one call (C2). It takes the queue
// whole, as a batch, delivers it outside the lock, and comes back for
// more. The deliverer is either an input's own goroutine or the Registry's
// drain goroutine:
//
//   - An input that finds nobody delivering becomes the deliverer, and
//     delivers until the events queued before it and its own are out (its
//     target), together with those of commands the Sink called from inside
//     Emit on its goroutine, which raise the target (C3). Then it returns;
//     if other goroutines' events still wait, it hands the queue to a drain
//     goroutine rather than deliver them without end.
//   - An input that finds another goroutine delivering returns at once: its
//     events go out with the deliverer's next batch.
//   - The drain goroutine delivers until the queue is empty, then ends, so
//     nothing is left waiting once inputs stop and no goroutine outlives
//     the work.
//
// The events are counted as they leave the queue (r.out.taken), so a target is
// a position in the stream of every event the Registry has produced.

// delivery is the queue of events produced and not yet delivered, and the
// state of their delivery.
//
// Invariants: at most one goroutine delivers at a time (deliveringBit);
// taken counts every event ever taken out of Events, so taken +
// len(Events) counts every event produced (produced); inFlight is the
// length of the batch being delivered while deliveringBit is set.
//
// A deliverer that has emitted its batch gives up the role without taking
// the lock when nothing has happened meanwhile that needs it: no event
// queued and no input waiting since it took the batch out. So a command
// takes the lock once, not twice, and two goroutines hand it between them
// half as often. Whoever queues events, or waits, while a goroutine
// delivers says so with pendingBit (othersDeliver), under the lock; the
// deliverer's leaving is a compare-and-swap that fails once that bit is
// set, and it then takes the lock as it would have. An input under the
// lock may therefore find deliveringBit cleared at any moment, but never
// once it has set pendingBit. What the deliverer would have done under the
// lock after its batch is done by the next takeOut: it reuses the batch's
// buffer and memory (recycle), free once freeQueue holds that buffer.
type delivery struct {
	core.Outbox           // events produced, not yet delivered
	taken       uint64    // events ever taken out of Events for delivery
	target      uint64    // the delivering input stops once taken reaches it (C3)
	syncTo      uint64    // the batch taken out waits for entries 1..syncTo to be durable (commit.go)
	waiters     int       // inputs waiting in passSlice
	sliceDone   sync.Cond // on the Registry's mu: a batch went out (passSlice waits for it)
	inFlight    int       // events of the batch being delivered, while deliveringBit is set (backlog)

	// Written outside the lock, by one goroutine while another holds it:
	// each group on a cache line of its own, so that neither slows the
	// holder.
	_        [64]byte
	underway atomic.Int64 // inputs begun and not yet at finish (handOff)
	_        [56]byte
	emits    atomic.Uint64 // batches begun and ended by deliverers: odd while one is under way (nested)
	_        [56]byte
	state    atomic.Uint32 // deliveringBit | pendingBit
	// freeQueue is the buffer of the batch last taken out, emptied, once
	// that batch went to the Sink whole (or was dropped whole, see
	// durable), and nil until then: non-nil, it is the next queue's, and
	// the batch's memory may be reused (recycle). Written by the deliverer
	// as it leaves, without the lock, and read by the next takeOut, which
	// the deliverer's leaving (state) comes before.
	freeQueue []events.Event
	_         [32]byte
}

// The bits of delivery.state.
const (
	deliveringBit = 1 << iota // a goroutine delivers: an input's, or the drain goroutine
	pendingBit                // since the batch was taken, events were queued or an input waits: the deliverer takes the lock
)

// sliceEvents is how many events an input lets queue while it processes a
// burst of deadlines (the Time rule) before it hands them to the Sink, and
// the backlog it waits to fall under before it makes more when another
// goroutine delivers (or MaxBacklog, if less: see holdBack). A burst of
// deadlines, however large, is then delivered as it is processed, never
// held as one queue (B4, C5), unless an input made from inside Emit finds
// it due (the exception C5 states). A variable only so that tests can
// make slices of one event.
var sliceEvents = 4096

// begin starts an input: it counts it as under way (see handOff), notes
// where delivery stands, and takes the lock.
func (r *Registry) begin(in *inputRun) {
	r.out.underway.Add(1)
	in.counted = true
	in.emits = r.out.emits.Load()
	r.mu.Lock()
	in.locked, in.produced = true, r.produced()
}

// leave ends an input that does not deliver (one refused for load, or one
// that panicked): events it finds waiting with nobody delivering are left
// to another input under way, or to a drain goroutine. It releases the
// lock.
func (r *Registry) leave(in *inputRun) {
	r.out.underway.Add(-1)
	in.counted = false
	if len(r.out.Events) > 0 && !r.othersDeliver() {
		r.handOff()
	}
	in.locked = false
	r.mu.Unlock()
}

// finish ends an input: it arms the timer for the next deadline, releases
// the lock and, unless another goroutine (or an outer call on this one) is
// already delivering, delivers the events queued up to now.
//
// An input that finds another goroutine delivering returns without waiting
// for its events, unless more than holdBack wait: then it waits until the
// deliverer has brought the backlog under half that. Producers that never
// deliver would otherwise outrun the one goroutine that does, which also
// has to win the lock back from them between batches; waiting makes them
// pay for delivery instead, and keeps the backlog of a fast Sink small.
func (r *Registry) finish(in *inputRun) {
	r.arm(r.time.latestReading, in.reading)
	r.out.underway.Add(-1)
	in.counted = false
	mark := r.produced()
	limit := r.holdBack()
	for r.delivering() {
		backlog := r.backlog()
		small := backlog <= limit/2 || (!in.waited && backlog <= limit)
		if (mark > in.produced || !small) && r.nested(in) {
			// A command the Sink called from inside Emit: the outermost
			// command delivers its events before it returns (C3), and it
			// cannot wait for the deliverer it runs under.
			r.out.target = max(r.out.target, mark)
			break
		}
		if small || !r.othersDeliver() {
			break
		}
		in.waited = true
		r.out.waiters++
		r.out.sliceDone.Wait()
		r.out.waiters--
	}
	if len(r.out.Events) == 0 || r.othersDeliver() {
		in.locked = false
		r.mu.Unlock()
		return
	}
	if r.out.taken >= mark { // its own events are out: the rest is others'
		r.handOff()
		in.locked = false
		r.mu.Unlock()
		return
	}
	r.claim()
	r.out.target = mark
	batch := r.takeOut()
	in.locked = false
	r.mu.Unlock()
	r.deliverRun(batch)
}

// delivering reports whether a goroutine delivers. Under the lock, a true
// answer may turn false at any moment, when the deliverer leaves without
// the lock; othersDeliver's answer holds.
func (r *Registry) delivering() bool { return r.out.state.Load()&deliveringBit != 0 }

// othersDeliver reports whether a goroutine delivers and will take the
// lock after its batch, for the events queued now or an input about to
// wait: it sets pendingBit, so that the deliverer cannot leave without
// the lock. False: nobody delivers. Called with the lock held, under which
// state changes only by the deliverer's leaving (deliveringBit alone to
// none), so the loop turns at most twice.
func (r *Registry) othersDeliver() bool {
	for {
		s := r.out.state.Load()
		if s&deliveringBit == 0 {
			return false
		}
		if s&pendingBit != 0 || r.out.state.CompareAndSwap(s, s|pendingBit) {
			return true
		}
	}
}

// backlog is Backlog, called with the lock held. A deliverer that leaves
// without the lock leaves inFlight as it was: it counts only while a
// goroutine delivers.
func (r *Registry) backlog() int {
	if r.delivering() {
		return len(r.out.Events) + r.out.inFlight
	}
	return len(r.out.Events)
}

// nested reports whether the input under way is a command the Sink made
// from inside Emit, on the deliverer's goroutine. Such a command runs
// inside one Emit call, which the deliverer cannot leave meanwhile: unless
// r.out.emits says the same batch is under way as when the input began,
// the input is another goroutine's, and the stack need not be searched.
func (r *Registry) nested(in *inputRun) bool {
	e := r.out.emits.Load()
	return e == in.emits && e%2 == 1 && nestedInEmit()
}

// produced returns how many events the Registry has queued in all: those
// taken out for delivery and those waiting.
func (r *Registry) produced() uint64 { return r.out.taken + uint64(len(r.out.Events)) }

// takeOut returns the queued events and starts a new queue. It is called
// with the lock held, by the deliverer.
func (r *Registry) takeOut() []events.Event {
	if r.out.freeQueue != nil {
		r.recycle()
	}
	r.seal()
	batch := r.out.Events
	r.out.Events, r.out.freeQueue = r.out.freeQueue[:0], nil
	r.out.inFlight = len(batch)
	r.out.taken += uint64(len(batch))
	r.stats.countEvents(batch, 1)
	r.out.syncTo = r.jnl.count // every event in batch was made by an entry up to it
	return batch
}

// durable returns whether the batch taken out may go to the Sink: once
// the entries that made its events are durable (output commit, with a
// Syncer). A failed Sync drops it, as it does every later batch: those
// events are never delivered, and takeOut's count of them is taken back
// (Stats.Events counts what went to the Sink). Called without the lock, by
// the deliverer, which clears the batch after.
func (r *Registry) durable(batch []events.Event) bool {
	if r.jnl.syncer == nil || r.syncTo(r.out.syncTo) == nil {
		return true
	}
	r.mu.Lock()
	r.stats.countEvents(batch, -1)
	r.mu.Unlock()
	return false
}

// deliverRun hands batch to the Sink, outside the lock, and takes more
// batches until the deliverer's target is reached; then it gives up the
// role, or hands it to a drain goroutine if events still wait. It is called
// without the lock, by the goroutine that set deliveringBit, and returns
// without it.
//
// If Emit panics, the event it panicked on is lost and nothing else (C6):
// the rest of the batch goes back to the front of the queue, another input
// under way or a drain goroutine delivers it and whatever else waits (an
// input whose slice of a burst this was counts as under way until guard
// ends it), and the panic goes on up the goroutine whose input called the
// Sink.
func (r *Registry) deliverRun(batch []events.Event) {
	i := -1 // before the first Emit: a panic requeues the whole batch
	defer func() {
		if batch == nil {
			return
		}
		p := recover()
		r.mu.Lock()
		r.requeue(batch, i+1)
		r.handOff()
		r.mu.Unlock()
		if p != nil { // nil: runtime.Goexit, which goes on by itself
			r.recovered("Sink.Emit", p)
			panic(p)
		}
	}()
	for {
		if r.durable(batch) {
			r.emitBatch(batch, &i) // it clears each event it emitted
		} else {
			clear(batch) // drop references to Members and Push
		}
		i = -1
		r.batchOut(batch)
		batch = nil
		if r.out.state.CompareAndSwap(deliveringBit, 0) {
			return // nothing queued and nobody waiting since the batch was taken out
		}
		r.mu.Lock()
		r.out.inFlight = 0
		r.out.state.Store(deliveringBit) // pendingBit is seen to
		r.wakeWaiters()
		if len(r.out.Events) == 0 {
			r.out.state.Store(0)
			r.mu.Unlock()
			return
		}
		if r.out.taken >= r.out.target {
			r.handOff() // its own events are out: the rest is not this input's to wait for (C3)
			r.mu.Unlock()
			return
		}
		batch = r.takeOut()
		r.mu.Unlock()
	}
}

// requeue puts the events of batch from index from on back at the front of
// the queue, after a panic in Emit cut its delivery short. Called with the
// lock held. The memory of the batch is left to the collector, not reused
// (see seal), since requeued events still refer to it.
func (r *Registry) requeue(batch []events.Event, from int) {
	rest := batch[min(from, len(batch)):]
	if len(rest) > 0 {
		q := make([]events.Event, 0, len(rest)+len(r.out.Events))
		q = append(q, rest...)
		r.out.Events = append(q, r.out.Events...)
		r.out.taken -= uint64(len(rest))
		r.stats.countEvents(rest, -1) // counted again when taken out again
	}
	clear(batch)
	r.out.inFlight = 0
	r.wakeWaiters()
}

// handOff ends the current deliverer's turn: while events wait, the next
// input under way delivers them when it finishes (it finds nobody
// delivering), or, with none under way, a drain goroutine. Called with the
// lock held.
func (r *Registry) handOff() {
	switch {
	case len(r.out.Events) == 0:
		r.out.state.Store(0)
	case r.out.underway.Load() > 0:
		r.out.state.Store(0)
		r.wakeWaiters() // an input waiting in passSlice may be that input
	default:
		r.claim()
		go r.drain()
	}
}

// drain is the Registry's own deliverer: it delivers until the queue is
// empty, then ends. A Sink that panics on its goroutine has no input to
// report to: the event is lost (C6), the panic recovered, and delivery goes
// on. A Sink that ends the goroutine (runtime.Goexit) loses that event
// too: the rest of the batch goes back to the front of the queue, for
// another input under way or a new drain goroutine.
func (r *Registry) drain() {
	var batch []events.Event
	i := 0
	defer func() {
		if batch != nil { // runtime.Goexit in Emit
			r.mu.Lock()
			r.requeue(batch, i+1)
			r.handOff()
			r.mu.Unlock()
		}
	}()
	r.mu.Lock()
	for len(r.out.Events) > 0 {
		batch = r.takeOut()
		r.mu.Unlock()
		if r.durable(batch) {
			r.emitBatchRecovering(batch, &i)
		}
		clear(batch)
		r.batchOut(batch)
		batch = nil
		r.mu.Lock()
		r.out.inFlight = 0
		r.out.state.Store(deliveringBit) // pendingBit is seen to
		r.wakeWaiters()
	}
	r.out.state.Store(0)
	r.mu.Unlock()
}

// batchOut ends the delivery of batch, emitted whole (or dropped whole, see
// durable): its memory is for the next takeOut to reuse. Called by the
// deliverer, with or without the lock, before it gives up the role or
// takes the next batch.
func (r *Registry) batchOut(batch []events.Event) {
	r.out.freeQueue = batch[:0]
}

// claim makes the calling input, or the drain goroutine about to start,
// the deliverer, with no batch out yet: the count a deliverer left behind
// when it gave up the role without the lock (see backlog) is not this
// one's. Called with the lock held.
func (r *Registry) claim() {
	r.out.inFlight = 0
	r.out.state.Store(deliveringBit)
}

// emitBatch passes batch to the Sink in order, and clears each event once
// Emit has returned for it, dropping its references to Members and Push;
// *i is the index of the event being emitted, for a deliverer whose Sink
// panics (the events from *i on are then left as they are). It counts in
// r.out.emits the batch's start and end, so that r.out.emits is odd while a batch
// is under way (see nested): once a batch rather than once an event, which
// spares the atomic operations on every event and still tells a command
// made from inside Emit (its batch is under way from its start to its
// end) from most others.
func (r *Registry) emitBatch(batch []events.Event, i *int) {
	r.out.emits.Add(1)
	defer r.out.emits.Add(1)
	for k := range batch {
		*i = k
		r.emitOne(&batch[k])
		batch[k] = events.Event{}
	}
}

// emitBatchRecovering is emitBatch for the drain goroutine: a panic in
// Emit loses that event only.
func (r *Registry) emitBatchRecovering(batch []events.Event, i *int) {
	r.out.emits.Add(1)
	defer r.out.emits.Add(1)
	for *i = 0; *i < len(batch); *i++ {
		r.emitRecovering(&batch[*i])
	}
}

// emitOne passes one event to the Sink. It is the only place a Registry
// calls Emit, so that nestedInEmit can find it on a stack.
//
//go:noinline
func (r *Registry) emitOne(e *events.Event) { r.s.sink.Emit(*e) }

// emitRecovering is emitOne for the drain goroutine: a panic in Emit loses
// that event only.
func (r *Registry) emitRecovering(e *events.Event) {
	defer func() {
		if p := recover(); p != nil {
			r.recovered("Sink.Emit, on the drain goroutine", p)
		}
	}()
	r.emitOne(e)
}

// emitOneEntry is the entry address of emitOne: a stack with a frame of
// emitOne in it is inside a Sink's Emit called by a Registry. The frame is
// known by its function, not by the return address of the Emit call: a
// build with profile-guided optimisation may turn that interface call into
// a type switch with a direct call for the hottest Sink type, so that
// Sinks of different types return to different addresses in emitOne.
var emitOneEntry = func() uintptr {
	var entry uintptr
	r := &Registry{}
	r.s.sink = events.SinkFunc(func(events.Event) {
		var pcs [8]uintptr
		n := runtime.Callers(1, pcs[:])
		frames := runtime.CallersFrames(pcs[:n])
		for {
			f, more := frames.Next()
			if strings.HasSuffix(f.Function, ".(*Registry).emitOne") {
				entry = f.Entry
				return
			}
			if !more {
				return
			}
		}
	})
	r.emitOne(&events.Event{})
	return entry
}()

// emitOneSpan is the length of emitOne's code: the addresses from
// emitOneEntry on that the runtime attributes to it, found by bisection
// (a function's code is one run of addresses).
var emitOneSpan = func() uintptr {
	lo, hi := uintptr(1), uintptr(1<<16)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if f := runtime.FuncForPC(emitOneEntry + mid); f != nil && f.Entry() == emitOneEntry {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}()

// nestedInEmit reports whether the calling goroutine is inside a Sink's
// Emit called by a Registry's deliverer: whether the input under way is a
// command the Sink made from inside Emit. Go gives a goroutine no identity
// to compare, so it looks for emitOne's frame on the stack, which costs a
// stack walk; it is asked only of an input that finds another delivery in
// progress. A stack inside another Registry's Emit answers true too: a
// Registry that serves another's Sink then delivers that input's events
// before its own command returns, which the command's own events bound.
func nestedInEmit() bool {
	var pcs [64]uintptr
	for skip := 2; ; skip += len(pcs) {
		n := runtime.Callers(skip, pcs[:])
		for _, pc := range pcs[:n] {
			// pc-1: a return address may be the first byte of the next
			// function, when the call is the last instruction.
			if pc-1-emitOneEntry < emitOneSpan {
				return true
			}
		}
		if n < len(pcs) {
			return false
		}
	}
}

// passSlice lets the events of one slice of a burst go out before the input
// processes the next (B4): it delivers them itself when nobody delivers,
// and otherwise waits until the backlog falls under holdBack. The
// deliverer it waits for may give the role up with the slice still queued,
// leaving it to this input, which counts as under way (handOff): the input
// then delivers it, as if nobody had been delivering. A command the Sink
// made from inside Emit cannot wait for the deliverer it runs under, and
// goes on. Called with the lock held; returns with it held.
func (r *Registry) passSlice(in *inputRun) {
	for {
		if !r.delivering() {
			if len(r.out.Events) == 0 {
				return
			}
			r.claim()
			r.out.target = r.produced()
			batch := r.takeOut()
			in.locked = false
			r.mu.Unlock()
			r.deliverRun(batch)
			r.mu.Lock()
			in.locked = true
			return
		}
		if r.nested(in) {
			return
		}
		r.out.waiters++
		for r.backlog() >= r.holdBack() && r.othersDeliver() {
			r.out.sliceDone.Wait()
		}
		r.out.waiters--
		if r.backlog() < r.holdBack() {
			return
		}
		// Nobody delivers (othersDeliver said so), and a slice or more
		// waits: deliver it.
	}
}

// holdBack is the backlog past which an input that finds another goroutine
// delivering waits for it: sliceEvents, or Options.MaxBacklog if that is
// less. Inputs that are never refused for load (presence, the passing of
// time) then pass the limit by no more than the events each input under
// way makes, or one slice of a burst (C5), however many follow each other.
func (r *Registry) holdBack() int {
	if m := r.s.maxBacklog; m > 0 && m < sliceEvents {
		return m
	}
	return sliceEvents
}

// wakeWaiters wakes the inputs passSlice holds, after a batch went out.
func (r *Registry) wakeWaiters() {
	if r.out.waiters > 0 {
		r.out.sliceDone.Broadcast()
	}
}

// Backlog returns how many events the Registry has produced and not yet
// handed to the Sink, counting the batch being delivered whole until its
// last Emit returns. Used from one goroutine it is 0 between commands
// (C3); from inside Emit it counts the rest of the batch and what nested
// commands queued.
//
// Under concurrent use one goroutine at a time delivers for all, and the
// other goroutines' commands return without waiting for it, so a Sink
// slower than the commands that feed it lets the backlog grow, up to
// Options.MaxBacklog, past which commands are refused with ErrOverloaded
// (C5). Like the other queries, Backlog reads no clock and processes
// nothing (D4).
func (r *Registry) Backlog() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backlog()
}
