package call

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// Snapshot's copy of the state, and its encoding (D2, B6).

// stateCopy is the state Snapshot copies under the lock, to encode once the
// lock is released. The calls, most of it, are copied by a goroutine per
// part of the call table at once (callsCopy) into records of bytes, in a
// few large buffers the collector need not scan, which refer to their
// strings and extras by number: strings never change and are not copied;
// what a later input may change in place is.
type stateCopy struct {
	last           time.Time
	order, beatSeq uint64
	journal        uint64 // JournalIndex (D1)
	parts          []*callsCopy
	index          []callIndex // every part's, merged (see encode)
	idle           []*user     // the idle users, longest idle first (H8)
	users          []userCopy
	hist           []histCopy
}

// callsCopy is the copy of a part of the call table, and of the user
// records of a part of the user table.
type callsCopy struct {
	chunks [][]byte    // the calls' records, in table order
	index  []callIndex // per call, where its record is
	strs   []string    // the strings the records refer to
	extras []*core.Extras
	users  []userCopy
	hist   []histCopy
	sink   uint8 // what the loads ahead of the copy read (see copyAhead)
}

// callIndex is a call's creation order and where its record is.
type callIndex struct {
	order     uint64
	chunk, at uint32
	size      uint32 // of its JSON (see encode)
	part      uint8
}

type userCopy struct {
	id      string
	devices []string
	beats   []beatCopy
}

type beatCopy struct {
	at    time.Time
	order uint64
}

type histCopy struct {
	id      string
	seq     uint64
	idle    int         // its place among the idle users, 1 the longest idle; 0: not idle
	entries []histEntry // their Infos are read-only: shared
}

// A call's record in a callsCopy, integers little-endian, strings as their
// number in its strs:
//
//	seq      8  the last Seq handed out
//	created  8+4  Unix seconds and nanoseconds
//	timeout  8
//	mode     1
//	n        1  members
//	data     4  the Invite's data: 0 the caller's Data, else a string + 1
//	x        4  extras: 0 none, k extras[k-1]
//	id       4  a string
//	n members, each:
//	  state     1  its State, | recDeadline when a deadline follows
//	  user      4  a string
//	  inviter   1  recNone: none; recString: a string follows (4); k: member k's user
//	  deadline  8+4  Unix seconds and nanoseconds, if flagged
//	  data      4  0 "", else a string + 1
const (
	recDeadline = 0x80
	recNone     = 0xff
	recString   = 0xfe
	recID       = 8 + 12 + 8 + 1 + 1 + 4 + 4 // where the ID is
	recFixed    = recID + 4                  // a record but for its members
	recMember   = 1 + 4 + 1 + 4 + 12 + 4     // the most a member takes
)

// recordChunk is the least size of a chunk of records after the first.
const recordChunk = 1 << 20

// newStateCopy makes the memory of a copy of about calls calls, each of
// its pages written once (see touch). What the copy keeps of the users is
// as large as the users' own records, which most users have none of (see
// user): it is made as it is copied.
func newStateCopy(calls int) *stateCopy {
	calls += calls/8 + 16
	s := &stateCopy{parts: make([]*callsCopy, partsFor(calls))}
	inParts(len(s.parts), calls, func(p, lo, hi int) {
		n := hi - lo
		cp := &callsCopy{
			chunks: [][]byte{make([]byte, min(n*(recFixed+2*recMember), math.MaxUint32))}, // callIndex.at is 32 bits
			index:  make([]callIndex, n),
			strs:   make([]string, 3*n),
		}
		touch(cp.chunks[0])
		touch(cp.index)
		touch(cp.strs)
		cp.chunks[0], cp.index, cp.strs = cp.chunks[0][:0], cp.index[:0], cp.strs[:0]
		s.parts[p] = cp
	})
	return s
}

// touchStep is the least size of a page of memory of the systems Go runs
// on: touch writes once in each, or more often where pages are larger.
const touchStep = 4 << 10

// touch writes the zero value in one element of each page of s, so that
// the system maps the pages now rather than when the copy first writes
// them with the lock held. It writes no more: make has zeroed s, or it is
// memory fresh from the system, which zeroes each page as it maps it.
// Unlike a clear of a large slice, the loop can be preempted.
func touch[E any](s []E) {
	var zero E
	step := max(1, touchStep/int(unsafe.Sizeof(zero)))
	for i := 0; i < len(s); i += step {
		s[i] = zero
	}
}

// copyAhead is how many slots ahead of the copy copyState reads a call's
// record, so that memory fetches the records while the calls before them
// are copied, instead of one after the other (the same for encode).
const copyAhead = 16

// copyState copies the state into s, with the lock held: plain copies, no
// encoding, no sorting, one pass over the call table and one over the
// user table, each cut in parts that goroutines copy at once (the lock
// held here covers them: they start after it was taken and are done
// before it is released).
func (r *Registry) copyState(s *stateCopy) {
	s.last, s.order, s.beatSeq = r.time.present, r.calls.created, r.users.heartbeats
	s.journal = r.jnl.count
	calls := &r.calls
	inParts(len(s.parts), calls.Slots(), func(p, lo, hi int) {
		cp := s.parts[p]
		var sink uint8
		for i := lo; i < hi; i++ {
			// Read ahead, in two steps: the record, then its members.
			if j := i + copyAhead; j < hi {
				if c := calls.Slot(j); c != nil {
					sink += uint8(len(c.Members()))
				}
			}
			if j := i + copyAhead/2; j < hi {
				if c := calls.Slot(j); c != nil {
					sink += uint8(c.Storage()[0].State)
				}
			}
			if c := calls.Slot(i); c != nil {
				cp.copyCall(c, uint8(p))
			}
		}
		cp.sink = sink
	})
	// Only users with a record have a history, or a device other than
	// the default one (see user): a user in calls only is in the calls'
	// members, and the slot of one online on the default device alone
	// says so (devices reads no call for it). The loop over the slots
	// reads each record independently of the one before, so memory
	// fetches many at once.
	users := r.users.slots
	inParts(len(s.parts), len(users), func(p, lo, hi int) {
		cp := s.parts[p]
		for i := lo; i < hi; i++ {
			if users[i].p == nil {
				continue
			}
			if users[i].kind > 0 { // no record: the default device, or none
				if devices := r.users.devices(i); len(devices) > 0 {
					cp.users = append(cp.users, userCopy{id: r.users.key(i), devices: devices})
				}
				continue
			}
			u := (*user)(users[i].p)
			if len(u.devices) > 0 {
				uc := userCopy{id: u.id, devices: slices.Clone(u.devices)}
				if beats := u.beats(); len(beats) > 0 {
					uc.beats = make([]beatCopy, len(beats))
					for i, b := range beats {
						uc.beats[i] = beatCopy{at: b.at, order: b.order}
					}
				}
				cp.users = append(cp.users, uc)
			}
			if len(u.history()) > 0 && !u.isIdle() {
				cp.hist = append(cp.hist, histCopy{id: u.id, seq: u.extra.histSeq, entries: slices.Clone(u.extra.history)})
			}
		}
	})
	// H8: the idle users, with their place in the idle order, so that a
	// restored Registry drops the same users. The list is walked alone,
	// each record's successor known only once it is read; their
	// histories are copied in parts.
	for u := r.users.idle.head; u != nil; u = u.extra.idleNext {
		s.idle = append(s.idle, u)
	}
	inParts(len(s.parts), len(s.idle), func(p, lo, hi int) {
		cp := s.parts[p]
		for k := lo; k < hi; k++ {
			u := s.idle[k]
			cp.hist = append(cp.hist, histCopy{id: u.id, seq: u.extra.histSeq, idle: k + 1, entries: slices.Clone(u.extra.history)})
		}
	})
	clear(s.idle) // hold on to no record
}

// str files a string and returns its number.
func (s *callsCopy) str(v string) uint32 {
	s.strs = append(s.strs, v)
	return uint32(len(s.strs) - 1)
}

// copyCall appends c's record, a record of part.
func (s *callsCopy) copyCall(c *callRecord, part uint8) {
	ms := c.Members()
	b := s.chunks[len(s.chunks)-1]
	if need := recFixed + len(ms)*recMember; cap(b)-len(b) < need {
		b = make([]byte, 0, max(recordChunk, need))
		s.chunks = append(s.chunks, b)
	}
	le := binary.LittleEndian
	s.index = append(s.index, callIndex{order: c.order, chunk: uint32(len(s.chunks) - 1), at: uint32(len(b)), part: part})
	b = le.AppendUint64(b, c.Seq())
	created := c.CreatedAt()
	b = le.AppendUint64(b, uint64(created.Unix()))
	b = le.AppendUint32(b, uint32(created.Nanosecond()))
	b = le.AppendUint64(b, uint64(c.Timeout()))
	b = append(b, byte(c.Mode()), byte(len(ms)))
	data := uint32(0)
	if d := c.InviteData(); d != ms[0].Data {
		data = s.str(d) + 1
	}
	b = le.AppendUint32(b, data)
	extrasRef := uint32(0)
	if cx := c.Extras(); cx != nil {
		// retry never changes, and merged only grows: the elements copied
		// here stay as they are. pushes and checks change in place.
		s.extras = append(s.extras, &core.Extras{Push: cx.Push, Retry: cx.Retry, Merged: cx.Merged[:len(cx.Merged):len(cx.Merged)],
			Pushes: slices.Clone(cx.Pushes), Checks: slices.Clone(cx.Checks)})
		extrasRef = uint32(len(s.extras))
	}
	b = le.AppendUint32(b, extrasRef)
	b = le.AppendUint32(b, s.str(c.ID()))
	for i := range ms {
		m := &ms[i]
		if m.Deadline.IsZero() {
			b = append(b, byte(m.State))
		} else {
			b = append(b, byte(m.State)|recDeadline)
		}
		b = le.AppendUint32(b, s.str(m.User))
		switch k := c.Index(m.Inviter); {
		case m.Inviter == "":
			b = append(b, recNone)
		case k >= 0:
			b = append(b, byte(k))
		default:
			b = le.AppendUint32(append(b, recString), s.str(m.Inviter))
		}
		if !m.Deadline.IsZero() {
			b = le.AppendUint64(b, uint64(m.Deadline.Unix()))
			b = le.AppendUint32(b, uint32(m.Deadline.Nanosecond()))
		}
		d := uint32(0)
		if m.Data != "" {
			d = s.str(m.Data) + 1
		}
		b = le.AppendUint32(b, d)
	}
	s.chunks[len(s.chunks)-1] = b
}

// callRec is a call read back from its record. It holds no pointer, so
// that reading one stores none (see snapWriter): its strings are strs
// numbers + 1, 0 the empty string (see text), its times Unix seconds and
// nanoseconds.
type callRec struct {
	order     uint64 // from its callIndex
	seq       uint64
	created   int64
	createdNs int32
	timeout   time.Duration
	mode      events.Mode
	data      uint32 // the Invite's
	extras    uint32 // 0 none, k extras[k-1]
	id        uint32
	n         int // members
	members   [maxMembers]memberRec
}

type memberRec struct {
	user, inviter, data uint32
	state               events.State
	timed               bool // it has a deadline
	deadlineNs          int32
	deadline            int64
}

// text returns the string a callRec refers to as k.
func (s *callsCopy) text(k uint32) string {
	if k == 0 {
		return ""
	}
	return s.strs[k-1]
}

// unixTime returns the time of Unix seconds and nanoseconds, in UTC.
func unixTime(sec int64, ns int32) time.Time { return time.Unix(sec, int64(ns)).UTC() }

// readRec reads the record at into c.
func (s *callsCopy) readRec(at *callIndex, c *callRec) {
	b := s.chunks[at.chunk][at.at:]
	c.order = at.order
	le := binary.LittleEndian
	c.seq = le.Uint64(b)
	c.created, c.createdNs = int64(le.Uint64(b[8:])), int32(le.Uint32(b[16:]))
	c.timeout = time.Duration(le.Uint64(b[20:]))
	c.mode = events.Mode(b[28])
	n := int(b[29])
	c.n = n
	data := le.Uint32(b[30:])
	c.extras = le.Uint32(b[34:])
	c.id = le.Uint32(b[recID:]) + 1
	b = b[recFixed:]
	var inviters [maxMembers]byte
	for i := range n {
		m := &c.members[i]
		flags := b[0]
		m.state = events.State(flags &^ recDeadline)
		m.user = le.Uint32(b[1:]) + 1
		inviters[i], m.inviter, b = b[5], 0, b[6:]
		if inviters[i] == recString {
			m.inviter, b = le.Uint32(b)+1, b[4:]
		}
		m.timed = flags&recDeadline != 0
		if m.timed {
			m.deadline, m.deadlineNs, b = int64(le.Uint64(b)), int32(le.Uint32(b[8:])), b[12:]
		}
		m.data, b = le.Uint32(b), b[4:]
	}
	for i, k := range inviters[:n] {
		if k < recString {
			c.members[i].inviter = c.members[k].user
		}
	}
	c.data = c.members[0].data
	if data > 0 {
		c.data = data
	}
}

// byOrder orders call indexes by creation order.
func byOrder(a, b callIndex) int { return cmp.Compare(a.order, b.order) }

// sortByOrder returns index sorted by creation order. Orders are the
// Registry's count of calls made, distinct, and those of the live calls
// mostly lie close together: when they span at most four times as many
// values as there are calls, each is placed at its order's slot, in time
// linear in their number rather than a comparison sort's n log n.
// Orders spread wider, or two alike (which a Registry never holds),
// are sorted by comparison.
func sortByOrder(index []callIndex) []callIndex {
	if len(index) < 2 {
		return index
	}
	lo, hi := index[0].order, index[0].order
	for _, c := range index[1:] {
		lo, hi = min(lo, c.order), max(hi, c.order)
	}
	if span := hi - lo; span/4 >= uint64(len(index)) {
		slices.SortFunc(index, byOrder)
		return index
	}
	slot := make([]int32, hi-lo+1) // index of the call of each order, + 1; 0: none
	for i, c := range index {
		k := c.order - lo
		if slot[k] != 0 {
			slices.SortFunc(index, byOrder)
			return index
		}
		slot[k] = int32(i) + 1
	}
	sorted := make([]callIndex, 0, len(index))
	for _, i := range slot {
		if i != 0 {
			sorted = append(sorted, index[i-1])
		}
	}
	return sorted
}

// encode sorts the copy, as the format has it, and writes it. It works out
// the size of each call's JSON first, so that it makes the buffer once, of
// the size it needs, and writes the calls into it in parts at once, one
// goroutine each (writing them is mostly waiting for memory).
// The bytes are the same whatever the parts.
func (s *stateCopy) encode() ([]byte, error) {
	inParts(len(s.parts), len(s.parts), func(p, _, _ int) { // in the order the records were written
		cp := s.parts[p]
		w, c := snapWriter{sizing: true}, callRec{}
		for i := range cp.index {
			at := &cp.index[i]
			cp.readRec(at, &c)
			w.n = 0
			w.call(cp, &c)
			at.size = uint32(w.n)
		}
	})
	calls := 0
	for _, cp := range s.parts {
		calls += len(cp.index)
	}
	s.index = make([]callIndex, 0, calls)
	for _, cp := range s.parts {
		s.index = append(s.index, cp.index...)
		s.users = append(s.users, cp.users...)
		s.hist = append(s.hist, cp.hist...)
	}
	parts := len(s.parts)
	s.index = sortByOrder(s.index)
	slices.SortFunc(s.users, func(a, b userCopy) int { return strings.Compare(a.id, b.id) })
	slices.SortFunc(s.hist, func(a, b histCopy) int { return strings.Compare(a.id, b.id) })

	head, tail := snapWriter{sizing: true}, snapWriter{sizing: true}
	s.writeHead(&head)
	s.writeTail(&tail)
	offs := make([]int, parts+1) // where each part's calls start
	n := head.n
	for p := range parts {
		offs[p] = n
		for i := len(s.index) * p / parts; i < len(s.index)*(p+1)/parts; i++ {
			n += int(s.index[i].size) + b2int(i > 0) // and the comma before it
		}
	}
	offs[parts] = n
	headN := head.n
	out := make([]byte, n+tail.n)
	head = snapWriter{b: out[:headN:headN]}
	s.writeHead(&head)
	tail = snapWriter{b: out[n:]}
	s.writeTail(&tail)
	errs := make([]error, parts)
	inParts(parts, len(s.index), func(p, lo, hi int) {
		w := snapWriter{b: out[offs[p]:offs[p+1]:offs[p+1]]}
		s.writeCalls(&w, lo, hi)
		errs[p] = w.wrote()
	})
	errs = append(errs, head.wrote(), tail.wrote())
	if err := errors.Join(errs...); err != nil {
		return nil, &Error{Op: "snapshot", Err: ErrInvalidArgument, Detail: err.Error()}
	}
	return out, nil
}

// partsFor returns how many parts encode writes n calls in: one per
// processor the Go scheduler runs goroutines on, up to 4, for enough calls
// to be worth it.
func partsFor(n int) int {
	if n < 1<<14 {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), 4)
}

// inParts runs f over [0, n) cut into parts ranges, one goroutine each, and
// waits for them. A panic in one is raised again in the caller.
func inParts(parts, n int, f func(p, lo, hi int)) {
	if parts <= 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	panics := make([]any, parts)
	for p := range parts {
		wg.Go(func() {
			defer func() { panics[p] = recover() }()
			f(p, n*p/parts, n*(p+1)/parts)
		})
	}
	wg.Wait()
	for _, v := range panics {
		if v != nil {
			panic(v)
		}
	}
}

// writeHead writes what comes before the calls.
func (s *stateCopy) writeHead(w *snapWriter) {
	w.raw(`{"callsig_snapshot":`)
	w.uint(snapshotVersion)
	w.raw(`,"last":`)
	w.time(s.last)
	w.raw(`,"order":`)
	w.uint(s.order)
	if s.beatSeq != 0 {
		w.raw(`,"beat_seq":`)
		w.uint(s.beatSeq)
	}
	if s.journal != 0 {
		w.raw(`,"journal":`)
		w.uint(s.journal)
	}
	w.raw(`,"calls":[`)
}

// writeCalls writes the calls lo to hi of the sorted index, each after a
// comma but the first.
func (s *stateCopy) writeCalls(w *snapWriter, lo, hi int) {
	var c callRec
	var sink uint8
	for k := lo; k < hi; k++ {
		// Read ahead, in two steps: a record, then its ID (see copyAhead).
		if j := k + copyAhead; j < hi {
			at := &s.index[j]
			sink += s.parts[at.part].chunks[at.chunk][at.at]
		}
		if j := k + copyAhead/2; j < hi {
			at := &s.index[j]
			cp := s.parts[at.part]
			if id := cp.strs[binary.LittleEndian.Uint32(cp.chunks[at.chunk][at.at+recID:])]; id != "" {
				sink += id[0]
			}
		}
		if k > 0 {
			w.raw(",")
		}
		at := &s.index[k]
		cp := s.parts[at.part]
		cp.readRec(at, &c)
		w.call(cp, &c)
	}
	w.sink = sink
}

// writeTail writes what comes after the calls.
func (s *stateCopy) writeTail(w *snapWriter) {
	w.raw(`],"users":[`)
	for i := range s.users {
		if i > 0 {
			w.raw(",")
		}
		w.user(&s.users[i])
	}
	w.raw("]")
	if len(s.hist) > 0 {
		w.raw(`,"history":[`)
		for i := range s.hist {
			if i > 0 {
				w.raw(",")
			}
			w.history(&s.hist[i])
		}
		w.raw("]")
	}
	w.raw("}")
}

// snapWriter writes the JSON of a snapshot into b, the region made for it
// (its capacity its length), or, sizing, counts its bytes; n is how many
// it wrote or counted. It writes in place, and stores no pointer as it
// does: under a collection in progress each store of one (an append's
// slice) would cost a write barrier. What does not fit is counted but not
// all written (see wrote). The first error sticks.
type snapWriter struct {
	b      []byte
	n      int
	sizing bool
	err    error
	sink   uint8 // what the loads ahead read (see copyAhead)
}

// rest returns the room left in b, empty: what is appended to it is
// written in b if it fits, and elsewhere, left out, if not.
func (w *snapWriter) rest() []byte {
	r := w.b[min(w.n, len(w.b)):]
	return r[:0:len(r)]
}

// wrote returns w's error, or an error if w did not write exactly its
// region: when what it wrote was not the size worked out for it, not all
// of it is there.
func (w *snapWriter) wrote() error {
	switch {
	case w.err != nil:
		return w.err
	case w.n != len(w.b):
		return fmt.Errorf("wrote %d bytes, worked out %d", w.n, len(w.b))
	}
	return nil
}

func (w *snapWriter) raw(s string) {
	if !w.sizing {
		copy(w.b[min(w.n, len(w.b)):], s)
	}
	w.n += len(s)
}

func (w *snapWriter) str(s string) {
	if w.sizing {
		w.n += jsonStringLen(s)
		return
	}
	w.n += len(appendJSONString(w.rest(), s))
}

func (w *snapWriter) uint(n uint64) {
	if w.sizing {
		w.n += decimalLen(n)
		return
	}
	w.n += len(strconv.AppendUint(w.rest(), n, 10))
}

func (w *snapWriter) int(n int64) {
	if w.sizing {
		if n < 0 {
			w.n++
			n = -n // the least int64 stays negative, and as a uint64 has its 19 digits
		}
		w.n += decimalLen(uint64(n))
		return
	}
	w.n += len(strconv.AppendInt(w.rest(), n, 10))
}

func (w *snapWriter) strings(list []string) {
	if list == nil {
		w.raw("null")
		return
	}
	w.raw("[")
	for i, s := range list {
		if i > 0 {
			w.raw(",")
		}
		w.str(s)
	}
	w.raw("]")
}

func (w *snapWriter) time(t time.Time) {
	if w.sizing {
		w.n += jsonTimeLen(t)
		return
	}
	w.n += len(appendJSONTime(w.rest(), t))
}

func (w *snapWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *snapWriter) mode(m events.Mode) {
	if m != events.General && m != events.Advanced {
		w.fail(fmt.Errorf("unknown mode %v", m))
	}
	w.raw(`"`)
	w.raw(m.String())
	w.raw(`"`)
}

func (w *snapWriter) state(s events.State) {
	if s > events.NotYetReceived {
		w.fail(fmt.Errorf("unknown member state %v", s))
	}
	w.raw(`"`)
	w.raw(s.String())
	w.raw(`"`)
}

func (w *snapWriter) push(p *events.Push) {
	w.raw(`{"Title":`)
	w.str(p.Title)
	w.raw(`,"Content":`)
	w.str(p.Content)
	w.raw(`,"Payload":`)
	w.str(p.Payload)
	w.raw("}")
}

// call writes c, a call of cp.
func (w *snapWriter) call(cp *callsCopy, c *callRec) {
	w.raw(`{"id":`)
	w.str(cp.text(c.id))
	w.raw(`,"caller":`)
	w.str(cp.text(c.members[0].user))
	w.raw(`,"mode":`)
	w.mode(c.mode)
	w.raw(`,"created":`)
	w.time(unixTime(c.created, c.createdNs))
	w.raw(`,"timeout":`)
	w.int(int64(c.timeout))
	if data := cp.text(c.data); data != "" {
		w.raw(`,"data":`)
		w.str(data)
	}
	var extras *core.Extras
	if c.extras > 0 {
		extras = cp.extras[c.extras-1]
	}
	if extras != nil && extras.Push != nil {
		w.raw(`,"push":`)
		w.push(extras.Push)
	}
	w.raw(`,"order":`)
	w.uint(c.order)
	w.raw(`,"seq":`)
	w.uint(c.seq)
	w.raw(`,"members":[`)
	for i := range c.n {
		m := &c.members[i]
		if i > 0 {
			w.raw(",")
		}
		w.raw(`{"User":`)
		w.str(cp.text(m.user))
		w.raw(`,"State":`)
		w.state(m.state)
		w.raw(`,"Inviter":`)
		w.str(cp.text(m.inviter))
		w.raw(`,"Deadline":`)
		if m.timed {
			w.time(unixTime(m.deadline, m.deadlineNs))
		} else {
			w.time(time.Time{})
		}
		w.raw(`,"Data":`)
		w.str(cp.text(m.data))
		w.raw("}")
	}
	w.raw("]")
	if extras != nil {
		w.extras(extras)
	}
	w.raw("}")
}

// extras writes what a call's extras hold, after its members.
func (w *snapWriter) extras(x *core.Extras) {
	if len(x.Pushes) > 0 {
		w.raw(`,"pushes":[`)
		for i, p := range x.Pushes {
			if i > 0 {
				w.raw(",")
			}
			switch p {
			case nil:
				w.raw("{}")
			case core.NoPush:
				w.raw(`{"none":true}`)
			default:
				w.raw(`{"push":`)
				w.push(p)
				w.raw("}")
			}
		}
		w.raw("]")
	}
	if rt := x.Retry; rt != nil {
		w.raw(`,"retry":{"invitees":`)
		w.strings(rt.Invitees)
		if len(rt.Failed) > 0 {
			w.raw(`,"failed":[`)
			for i, f := range rt.Failed {
				if i > 0 {
					w.raw(",")
				}
				w.raw(`{"user":`)
				w.str(f.User)
				w.raw(`,"err":`)
				w.str(f.Err.Error())
				w.raw("}")
			}
			w.raw("]")
		}
		w.raw("}")
	}
	if len(x.Merged) > 0 {
		w.raw(`,"merged":[`)
		for i, m := range x.Merged {
			if i > 0 {
				w.raw(",")
			}
			w.raw(`{"id":`)
			w.str(m.ID)
			w.raw(`,"inviter":`)
			w.str(m.Inviter)
			w.raw(`,"invitee":`)
			w.str(m.Invitee)
			w.raw(`,"deadline":`)
			w.time(m.Deadline)
			w.raw("}")
		}
		w.raw("]")
	}
	if len(x.Checks) > 0 {
		w.raw(`,"checks":[`)
		for i, at := range x.Checks {
			if i > 0 {
				w.raw(",")
			}
			w.time(at)
		}
		w.raw("]")
	}
}

func (w *snapWriter) user(u *userCopy) {
	w.raw(`{"user":`)
	w.str(u.id)
	w.raw(`,"devices":`)
	w.strings(u.devices)
	if len(u.beats) > 0 {
		w.raw(`,"beats":[`)
		for i, b := range u.beats {
			if i > 0 {
				w.raw(",")
			}
			w.raw(`{"at":`)
			w.time(b.at)
			w.raw(`,"order":`)
			w.uint(b.order)
			w.raw("}")
		}
		w.raw("]")
	}
	w.raw("}")
}

func (w *snapWriter) history(h *histCopy) {
	w.raw(`{"user":`)
	w.str(h.id)
	w.raw(`,"seq":`)
	w.uint(h.seq)
	if h.idle != 0 {
		w.raw(`,"idle":`)
		w.int(int64(h.idle))
	}
	w.raw(`,"entries":[`)
	for i := range h.entries {
		e := &h.entries[i]
		if i > 0 {
			w.raw(",")
		}
		w.raw(`{"seq":`)
		w.uint(e.seq)
		w.raw(`,"call":{"CallID":`)
		w.str(e.info.CallID)
		w.raw(`,"Caller":`)
		w.str(e.info.Caller)
		w.raw(`,"Mode":`)
		w.mode(e.info.Mode)
		w.raw(`,"CreatedAt":`)
		w.time(e.info.CreatedAt)
		w.raw(`,"Timeout":`)
		w.int(int64(e.info.Timeout))
		w.raw(`,"ExtendedData":`)
		w.str(e.info.ExtendedData)
		w.raw(`,"Members":`)
		if e.info.Members == nil {
			w.raw("null")
		} else {
			w.raw("[")
			for j := range e.info.Members {
				m := &e.info.Members[j]
				if j > 0 {
					w.raw(",")
				}
				w.raw(`{"User":`)
				w.str(m.User)
				w.raw(`,"State":`)
				w.state(m.State)
				w.raw(`,"Inviter":`)
				w.str(m.Inviter)
				w.raw(`,"Deadline":`)
				w.time(m.Deadline)
				w.raw(`,"Data":`)
				w.str(m.Data)
				w.raw("}")
			}
			w.raw("]")
		}
		w.raw(`,"EndedAt":`)
		w.time(e.info.EndedAt)
		w.raw("}}")
	}
	w.raw("]}")
}
