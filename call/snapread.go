package call

import (
	"bytes"
	"errors"
	"time"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/calltable"
	"github.com/callsig/callsig/internal/core"
)

// Restore's reading of a snapshot's JSON into calls, users and histories
// (D2, B6); load, in snapshot.go, checks and files them.

// The members of the objects of a snapshot, in the order Snapshot writes
// them.
var (
	topKeys     = newKeys("callsig_snapshot", "last", "order", "beat_seq", "journal", "calls", "users", "history")
	callKeys    = newKeys("id", "caller", "mode", "created", "timeout", "data", "push", "order", "seq", "members", "pushes", "retry", "merged", "checks")
	memberKeys  = newKeys("User", "State", "Inviter", "Deadline", "Data")
	pushKeys    = newKeys("Title", "Content", "Payload")
	pushesKeys  = newKeys("push", "none")
	retryKeys   = newKeys("invitees", "failed")
	failureKeys = newKeys("user", "err")
	mergedKeys  = newKeys("id", "inviter", "invitee", "deadline")
	userKeys    = newKeys("user", "devices", "beats")
	beatKeys    = newKeys("at", "order")
	historyKeys = newKeys("user", "seq", "idle", "entries")
	entryKeys   = newKeys("seq", "call")
	infoKeys    = newKeys("CallID", "Caller", "Mode", "CreatedAt", "Timeout", "ExtendedData", "Members", "EndedAt")
)

// The indexes of topKeys.
const (
	topVersion = iota
	topLast
	topOrder
	topBeatSeq
	topJournal
	topCalls
	topUsers
	topHistory
)

// snapCall is one call as a snapshot holds it. Restore reads every call
// into the same one.
type snapCall struct {
	id, caller, data string
	mode             events.Mode
	created          time.Time
	timeout          time.Duration
	push             *events.Push
	order, seq       uint64
	members          []events.Member
	pushes           []*events.Push
	retry            *core.Retry
	merged           []core.Merged
	checks           []time.Time
}

type snapDevice struct {
	user    string
	devices []string
	beats   []beatCopy
}

type snapHist struct {
	user    string
	seq     uint64
	idle    int64 // its place among the idle users, 1 the longest idle; 0: not idle
	entries []histEntry
}

// readCalls reads the calls array at d and rebuilds every call, in two
// goroutines that each own their part of the Registry: a new one reads and
// checks the calls and files them under their IDs (checkCalls), and this
// one, a batch behind, files them under their users and in the deadline
// heap; the two halves take about as long (B6). The result does not depend
// on how they interleave: each goes through the calls in order, on tables
// of its own, and the first error in the bytes is the one d keeps. It
// returns the size the user table was made for.
func (r *Registry) readCalls(d *jsonReader) int {
	// Room for the batches read while this goroutine sizes the user
	// table: the other does not wait for it.
	batches := make(chan callBatch, 256)
	go r.checkCalls(d, batches)
	hint := r.sizeUsers(d.b)
	for b := range batches {
		if b.panic != nil {
			panic(b.panic)
		}
		for _, c := range b.calls {
			for j := range c.Members() {
				r.link(c, j)
			}
			next, kind := c.NextDue()
			r.calls.due.Set(&c.dueHandle, c, c.order, next, uint8(kind))
		}
	}
	return hint
}

// callBatch is calls read, checked and filed under their IDs; or what
// reading them panicked with.
type callBatch struct {
	calls []*callRecord
	panic any
}

// callBatchSize is how many calls checkCalls hands over at a time.
const callBatchSize = 1024

// checkCalls reads the calls array at d, rebuilds each call, checks it and
// files it under its ID, and hands the calls over in batches, in order. It
// stops at the first error, which it leaves in d.
func (r *Registry) checkCalls(d *jsonReader, out chan<- callBatch) {
	defer close(out)
	defer func() {
		if p := recover(); p != nil {
			out <- callBatch{panic: p} // for the goroutine that called Restore
		}
	}()
	var sc snapCall
	batch := make([]*callRecord, 0, callBatchSize)
	lastOrder := uint64(0)
	for first := true; d.elem(&first); {
		readCall(d, &sc)
		if d.err != nil {
			break
		}
		c, err := r.loadCall(&sc)
		switch {
		case err != nil:
		case sc.order <= lastOrder || sc.order > r.calls.created:
			err = badSnapshot("call %s: creation order %d out of sequence", core.QuoteID(sc.id), sc.order)
		case r.calls.Get(c.ID()) != nil:
			err = badSnapshot("call %s: repeated ID", core.QuoteID(sc.id))
		}
		if err != nil {
			d.failWith(err)
			break
		}
		lastOrder = sc.order
		r.calls.Put(c)
		if batch = append(batch, c); len(batch) == callBatchSize {
			out <- callBatch{calls: batch}
			batch = make([]*callRecord, 0, callBatchSize)
		}
	}
	if len(batch) > 0 {
		out <- callBatch{calls: batch}
	}
}

// sizeUsers makes the user table of the size it will have at most, the
// number of user IDs in the snapshot b, so that filling it never grows it
// (each growth moves every slot, and a user without a record has its ID
// read from its call, fetching each from memory). load makes it smaller
// afterwards should it be far too large.
func (r *Registry) sizeUsers(b []byte) int {
	n := bytes.Count(b, []byte(`"User":`)) + bytes.Count(b, []byte(`"user":`))
	r.users.resize(n)
	return n
}

// resize makes t's slots as many as n users need, with the load at most
// 3/4 as add keeps it, and files the users it has in them. n is at least
// t.len().
func (t *userTable) resize(n int) {
	size := calltable.MinSlots
	for size*3 < n*4 {
		size *= 2
	}
	old := t.slots
	t.slots = make([]userSlot, size)
	for _, s := range old {
		if s.p != nil {
			t.slots[t.free(s.h)] = s
		}
	}
}

// readCall reads one call into sc, whose members' slice it reuses.
func readCall(d *jsonReader, sc *snapCall) {
	*sc = snapCall{members: sc.members[:0]}
	var seen uint64
	for first := true; ; {
		k, ok := d.field(&first, callKeys, &seen)
		if !ok {
			return
		}
		switch k {
		case 0:
			sc.id = d.str()
		case 1:
			sc.caller = d.str()
		case 2:
			sc.mode = d.mode()
		case 3:
			sc.created = d.time()
		case 4:
			sc.timeout = time.Duration(d.i64())
		case 5:
			sc.data = d.str()
		case 6:
			sc.push = readPush(d)
		case 7:
			sc.order = d.u64()
		case 8:
			sc.seq = d.u64()
		case 9:
			for first := true; d.elem(&first); {
				if len(sc.members) > maxMembers {
					d.fail("more than %d members", maxMembers)
					return
				}
				sc.members = append(sc.members, readMember(d, sc.caller, sc.data, sc.members))
			}
		case 10:
			for first := true; d.elem(&first); {
				sc.pushes = append(sc.pushes, readMemberPush(d))
			}
		case 11:
			sc.retry = readRetry(d)
		case 12:
			for first := true; d.elem(&first); {
				sc.merged = append(sc.merged, readMerged(d))
			}
		case 13:
			for first := true; d.elem(&first); {
				sc.checks = append(sc.checks, d.time())
			}
		}
	}
}

// readMember reads a member. A user ID equal to the caller's or an earlier
// member's, and data equal to the Invite's, share their strings.
func readMember(d *jsonReader, caller, data string, before []events.Member) events.Member {
	var m events.Member
	var seen uint64
	for first := true; ; {
		k, ok := d.field(&first, memberKeys, &seen)
		if !ok {
			return m
		}
		switch k {
		case 0:
			m.User = d.userID(caller, before)
		case 1:
			m.State = d.state()
		case 2:
			m.Inviter = d.userID(caller, before)
		case 3:
			m.Deadline = d.time()
		case 4:
			m.Data = d.strOf(data)
		}
	}
}

// userID reads a user ID, sharing the string of caller or of a member's
// user when it is the same.
func (d *jsonReader) userID(caller string, ms []events.Member) string {
	if d.null() {
		return ""
	}
	v := d.rawString()
	if string(v) == caller {
		return caller
	}
	for i := range ms {
		if string(v) == ms[i].User {
			return ms[i].User
		}
	}
	return string(v)
}

func readPush(d *jsonReader) *events.Push {
	if d.null() {
		return nil
	}
	p := &events.Push{}
	var seen uint64
	for first := true; ; {
		k, ok := d.field(&first, pushKeys, &seen)
		if !ok {
			return p
		}
		switch k {
		case 0:
			p.Title = d.str()
		case 1:
			p.Content = d.str()
		case 2:
			p.Payload = d.str()
		}
	}
}

// readMemberPush reads one member's push: nil for the Invite's, core.NoPush for
// none, or its own.
func readMemberPush(d *jsonReader) *events.Push {
	var p *events.Push
	none := false
	var seen uint64
	for first := true; ; {
		k, ok := d.field(&first, pushesKeys, &seen)
		if !ok {
			break
		}
		switch k {
		case 0:
			p = readPush(d)
		case 1:
			none = d.boolean()
		}
	}
	switch {
	case none && p != nil:
		d.fail("a member push both none and set")
	case none:
		return core.NoPush // rung without push settings
	}
	return p
}

func readRetry(d *jsonReader) *core.Retry {
	if d.null() {
		return nil
	}
	rt := &core.Retry{}
	var seen uint64
	for first := true; ; {
		k, ok := d.field(&first, retryKeys, &seen)
		if !ok {
			return rt
		}
		switch k {
		case 0:
			for first := true; d.elem(&first); {
				rt.Invitees = append(rt.Invitees, d.str())
			}
		case 1:
			for first := true; d.elem(&first); {
				var f core.Failure
				var seen uint64
				for first := true; ; {
					k, ok := d.field(&first, failureKeys, &seen)
					if !ok {
						break
					}
					if k == 0 {
						f.User = d.str()
					} else {
						f.Err = errors.New(d.str()) // its message, not its identity (D2)
					}
				}
				if f.Err == nil {
					f.Err = errors.New("")
				}
				rt.Failed = append(rt.Failed, f)
			}
		}
	}
}

func readMerged(d *jsonReader) core.Merged {
	var m core.Merged
	var seen uint64
	for first := true; ; {
		k, ok := d.field(&first, mergedKeys, &seen)
		if !ok {
			return m
		}
		switch k {
		case 0:
			m.ID = d.str()
		case 1:
			m.Inviter = d.str()
		case 2:
			m.Invitee = d.str()
		case 3:
			m.Deadline = d.time()
		}
	}
}

func readDevices(d *jsonReader) []snapDevice {
	var out []snapDevice
	for first := true; d.elem(&first); {
		var sd snapDevice
		var seen uint64
		for first := true; ; {
			k, ok := d.field(&first, userKeys, &seen)
			if !ok {
				break
			}
			switch k {
			case 0:
				sd.user = d.str()
			case 1:
				for first := true; d.elem(&first); {
					sd.devices = append(sd.devices, d.str())
				}
			case 2:
				for first := true; d.elem(&first); {
					var b beatCopy
					var seen uint64
					for first := true; ; {
						k, ok := d.field(&first, beatKeys, &seen)
						if !ok {
							break
						}
						if k == 0 {
							b.at = d.time()
						} else {
							b.order = d.u64()
						}
					}
					sd.beats = append(sd.beats, b)
				}
			}
		}
		out = append(out, sd)
	}
	return out
}

func readHistory(d *jsonReader) []snapHist {
	var out []snapHist
	for first := true; d.elem(&first); {
		var h snapHist
		var seen uint64
		for first := true; ; {
			k, ok := d.field(&first, historyKeys, &seen)
			if !ok {
				break
			}
			switch k {
			case 0:
				h.user = d.str()
			case 1:
				h.seq = d.u64()
			case 2:
				h.idle = d.i64()
			case 3:
				for first := true; d.elem(&first); {
					var e histEntry
					var seen uint64
					for first := true; ; {
						k, ok := d.field(&first, entryKeys, &seen)
						if !ok {
							break
						}
						if k == 0 {
							e.seq = d.u64()
						} else {
							e.info = readInfo(d)
						}
					}
					h.entries = append(h.entries, e)
				}
			}
		}
		out = append(out, h)
	}
	return out
}

func readInfo(d *jsonReader) Info {
	var info Info
	var seen uint64
	for first := true; ; {
		k, ok := d.field(&first, infoKeys, &seen)
		if !ok {
			return info
		}
		switch k {
		case 0:
			info.CallID = d.str()
		case 1:
			info.Caller = d.str()
		case 2:
			info.Mode = d.mode()
		case 3:
			info.CreatedAt = d.time()
		case 4:
			info.Timeout = time.Duration(d.i64())
		case 5:
			info.ExtendedData = d.str()
		case 6:
			for first := true; d.elem(&first); {
				if len(info.Members) > maxMembers {
					d.fail("more than %d members", maxMembers)
					return info
				}
				info.Members = append(info.Members, readMember(d, info.Caller, info.ExtendedData, info.Members))
			}
		case 7:
			info.EndedAt = d.time()
		}
	}
}
