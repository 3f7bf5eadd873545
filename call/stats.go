package call

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callsig/callsig/events"
)

// Observability: the counters behind Stats, and the few lines
// Options.Logger gets. The counters are plain integers in fixed arrays,
// updated under the lock the input already holds, so that counting costs
// no allocation and no atomic operation (B2); Stats copies them under the
// lock and builds its lists after letting go.

// Stats is a snapshot of a Registry's counters, for a host to export (to
// Prometheus, say) without wrapping the Registry. The counts run from
// NewRegistry (or Restore, Recover), and are not part of a snapshot.
type Stats struct {
	LiveCalls     int  // calls not yet over: Len
	OnlineDevices int  // devices online, over all users
	Backlog       int  // events produced and not yet handed to the Sink: Backlog (C5)
	Overloaded    bool // the last command checked for load was refused (C5)

	// Commands counts the inputs the host made (commands, Login, Logout,
	// Heartbeat, Replay) by op and result, ops in the order of the Op
	// constants and results in the order of the codes (success first),
	// listing only those that happened. Entries given
	// to Apply (and so Recover) are not counted, nor the clock's firings.
	Commands []CommandCount
	// Events counts the events handed to the Sink, by kind, in Kind order,
	// listing every kind (zero counts included). An event whose Emit
	// panicked counts.
	Events []EventCount

	Panics          uint64 // panics in host code the Registry recovered from (C6): re-raised to an input, or lost on the drain goroutine
	JournalRefusals uint64 // Journal.Append calls that failed (D1), the passing of time's included

	// JournalAppend is the latency of Journal.Append, every call counted
	// (the passing of time's too, refusals included). Zero without a
	// Journal.
	JournalAppend Histogram
	// JournalSync is the latency of Syncer.Sync, every call counted
	// (failures included): making journaled entries durable in batches,
	// by group commit. Zero without a Journal that is a Syncer.
	JournalSync Histogram
}

// CommandCount is how many inputs of one op ended with one result.
type CommandCount struct {
	Op    Op
	Code  string // the error's Code: "" for success
	Count uint64
}

// EventCount is how many events of one kind went to the Sink.
type EventCount struct {
	Kind  events.Kind
	Count uint64
}

// Histogram counts durations in fixed buckets.
type Histogram struct {
	// Bounds are the buckets' upper bounds, inclusive, ascending, always
	// the same: 10µs, 25µs, 50µs, 100µs, … 500ms, 1s (a 1, 2.5, 5 series),
	// from an append to a buffer to past any healthy fsync.
	Bounds []time.Duration
	// Counts[i] counts the durations in (Bounds[i-1], Bounds[i]]; the last
	// one, Counts[len(Bounds)], those above every bound. Not cumulative:
	// a Prometheus histogram adds them up.
	Counts []uint64
	Count  uint64        // all durations
	Sum    time.Duration // their sum
}

// latencyBounds are a Histogram's Bounds.
var latencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second,
}

// statsOps are the ops Stats.Commands counts, in its order; statsOp
// gives their indexes.
var statsOps = [...]Op{OpInvite, OpCancel, OpAccept, OpReject, OpCallingInvite, OpJoin, OpQuit, OpEnd, OpLogin, OpLogout, OpHeartbeat, OpReplay}

// statsKinds are the kinds Stats.Events lists, in Kind order.
var statsKinds = [...]events.Kind{
	events.InvitationCreated, events.InvitationReceived, events.InvitationCancelled,
	events.InvitationAccepted, events.InvitationRejected, events.InvitationTimeout,
	events.InviteesAnsweredTimeout, events.UserStateChanged, events.InvitationEnded,
}

// latency is a Histogram as counted, under the lock.
type latency struct {
	counts [len(latencyBounds) + 1]uint64
	n      uint64
	sum    time.Duration
}

func (l *latency) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	l.counts[i]++
	l.n++
	l.sum += d
}

func (l *latency) histogram() Histogram {
	return Histogram{Bounds: append([]time.Duration(nil), latencyBounds[:]...), Counts: append([]uint64(nil), l.counts[:]...), Count: l.n, Sum: l.sum}
}

// counters are the Registry's counts, guarded by its lock.
//
// Invariants: commands[o][0] counts op statsOps[o]'s successes,
// commands[o][1+i] its errors of codes[i], commands[o][1+len(codes)] the
// others; events[k] the events of kind k taken out for delivery and not
// put back (requeue); overloaded is set from a command refused for load
// to the next one that is not; refusing is set from a refused append to
// the next that succeeds, and refused counts the refusals since.
type counters struct {
	commands    [len(statsOps)][len(codes) + 2]uint64
	events      [len(statsKinds) + 1]uint64
	panics      uint64
	refusals    uint64
	overloaded  bool
	overRefused uint64 // commands refused since the overload began
	refusing    bool
	refused     uint64 // appends refused since the Journal began refusing
	append      latency
	sync        latency // the journal's sync latency: see Stats.JournalSync
}

// statsOp returns op's index in statsOps, or -1. Every input counts
// through it: a switch, which the compiler turns into a search on length
// and bytes, not a scan of statsOps comparing strings (TestStatsOp keeps
// the two in step).
func statsOp(op Op) int {
	switch op {
	case OpInvite:
		return 0
	case OpCancel:
		return 1
	case OpAccept:
		return 2
	case OpReject:
		return 3
	case OpCallingInvite:
		return 4
	case OpJoin:
		return 5
	case OpQuit:
		return 6
	case OpEnd:
		return 7
	case OpLogin:
		return 8
	case OpLogout:
		return 9
	case OpHeartbeat:
		return 10
	case OpReplay:
		return 11
	}
	return -1
}

// result returns the column of err in counters.commands.
func result(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*Error); ok {
		for i, c := range codes {
			if e.Err == c.err {
				return 1 + i
			}
		}
	}
	return 1 + len(codes)
}

// count counts one input the host made. Called with the lock held.
func (c *counters) count(op Op, err error) {
	if o := statsOp(op); o >= 0 {
		c.commands[o][result(err)]++
	}
}

// countEvents counts the events of batch as taken out for delivery (n > 0)
// or put back (n < 0). Called with the lock held.
func (c *counters) countEvents(batch []events.Event, n int) {
	for i := range batch {
		if k := batch[i].Kind; int(k) < len(c.events) {
			c.events[k] += uint64(n)
		}
	}
}

// appendEntry gives e to the Journal, timing it and counting a refusal.
// The first refusal after a success, and the first success after
// refusals, are logged (with the lock held: see Options.Logger); the
// refusals in between are counted, not logged one by one.
func (r *Registry) appendEntry(j Journal, e Entry) error {
	start := time.Now()
	err := j.Append(e)
	c := &r.stats
	c.append.observe(time.Since(start))
	switch {
	case err != nil:
		c.refusals++
		c.refused++
		if !c.refusing {
			c.refusing = true
			r.logLocked(slog.LevelError, "callsig: the Journal refuses inputs", "op", string(e.Op), "err", err)
		}
	case c.refusing:
		c.refusing = false
		r.logLocked(slog.LevelInfo, "callsig: the Journal accepts inputs again", "refused", c.refused)
		c.refused = 0
	}
	return err
}

// overload notes whether a command was refused for load (C5), logging
// when an overload begins and when it ends. Called with the lock held.
func (r *Registry) overload(refused bool, backlog int) {
	c := &r.stats
	switch {
	case refused:
		c.overRefused++
		if !c.overloaded {
			c.overloaded = true
			r.logLocked(slog.LevelWarn, "callsig: overloaded: refusing commands", "backlog", backlog, "max_backlog", r.s.maxBacklog)
		}
	case c.overloaded:
		c.overloaded = false
		r.logLocked(slog.LevelInfo, "callsig: overload over: accepting commands", "backlog", backlog, "refused", c.overRefused)
		c.overRefused = 0
	}
}

// recovered counts a panic in host code and logs it.
func (r *Registry) recovered(where string, p any) {
	r.mu.Lock()
	r.stats.panics++
	r.mu.Unlock()
	r.log(slog.LevelError, "callsig: panic in host code", "in", where, "panic", p)
}

// log writes one line to Options.Logger, if there is one. It is called
// without the lock: the Logger is host code.
func (r *Registry) log(level slog.Level, msg string, args ...any) {
	if l := r.s.logger; l != nil {
		l.Log(context.Background(), level, msg, args...)
	}
}

// logQueue holds the Logger lines noted with the lock held, until the
// input that noted them (or the next one) has let the lock go. It holds a
// line per change of state (a Journal refusing or accepting again, an
// overload beginning or ending), never one per input.
type logQueue struct {
	lines   []logLine   // guarded by the Registry's lock
	pending atomic.Bool // lines is not empty: read without the lock, so that an input with nothing to write takes the lock no second time
	// writing is held by the one goroutine writing lines, so that they
	// reach the Logger in the order they were noted. Never waited for: a
	// goroutine that finds it held leaves its lines to the writer, which
	// writes until none is pending (a Handler that calls the Registry
	// back is such a goroutine, inside the writer).
	writing sync.Mutex
}

type logLine struct {
	level slog.Level
	msg   string
	args  []any
}

// logLocked notes a line for Options.Logger, with the lock held; flushLogs
// writes it once the lock is let go.
func (r *Registry) logLocked(level slog.Level, msg string, args ...any) {
	if r.s.logger == nil {
		return
	}
	r.logs.lines = append(r.logs.lines, logLine{level, msg, args})
	r.logs.pending.Store(true)
}

// flushLogs writes the lines noted under the lock, if any. Called
// without it, at the end of every input: what it costs an input with
// nothing to write is one atomic load.
func (r *Registry) flushLogs() {
	if r.logs.pending.Load() {
		r.writeLogs()
	}
}

func (r *Registry) writeLogs() {
	for r.logs.pending.Load() && r.logs.writing.TryLock() {
		for r.logs.pending.Load() {
			r.mu.Lock()
			lines := r.logs.lines
			r.logs.lines = nil
			r.logs.pending.Store(false)
			r.mu.Unlock()
			for _, l := range lines {
				r.log(l.level, l.msg, l.args...)
			}
		}
		r.logs.writing.Unlock()
		// A line noted after the last check, whose goroutine found
		// writing held, is written by the next turn of the loop.
	}
}

// Stats returns the Registry's counters (see Stats). Like the other
// queries it reads no clock and processes nothing (D4); it holds the lock
// only to copy the counts.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	c := r.stats
	s := Stats{
		LiveCalls:     r.calls.Len(),
		OnlineDevices: r.users.online,
		Backlog:       r.backlog(),
		Overloaded:    c.overloaded,
	}
	r.mu.Unlock()
	for o, row := range c.commands {
		for res, n := range row {
			if n == 0 {
				continue
			}
			code := ""
			switch {
			case res == 0:
			case res <= len(codes):
				code = codes[res-1].code
			default:
				code = codeInternal
			}
			s.Commands = append(s.Commands, CommandCount{Op: statsOps[o], Code: code, Count: n})
		}
	}
	s.Events = make([]EventCount, len(statsKinds))
	for i, k := range statsKinds {
		s.Events[i] = EventCount{Kind: k, Count: c.events[k]}
	}
	s.Panics, s.JournalRefusals = c.panics, c.refusals
	s.JournalAppend, s.JournalSync = c.append.histogram(), c.sync.histogram()
	return s
}
