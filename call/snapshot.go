package call

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// snapshotVersion is the format Snapshot writes and Restore reads (D2).
const snapshotVersion = 1

// The snapshot format, version 1, is a JSON object with these members, in
// this order (members marked * are left out when empty or zero):
//
//	"callsig_snapshot": 1   the format version: always the first member
//	"last": time            the latest clock reading an input took effect at (D3)
//	"order": n              calls created so far (the Time rule)
//	"beat_seq": n *         H5: heartbeats so far
//	"journal": n *          D1: the entries the state has seen (JournalIndex)
//	"calls": [call]         the live calls, oldest first
//	"users": [user]         the users with an online device, by user ID
//	"history": [history] *  H8: ended calls per user, by user ID
//
//	call:    {"id", "caller", "mode", "created": time, "timeout": ns,
//	          "data" *, "push": push *, "order", "seq" (the last Seq handed out, G9),
//	          "members": [member], "pushes" *, "retry" *, "merged" *, "checks" *}
//	member:  {"User", "State", "Inviter", "Deadline": time, "Data"} (events.Member's Go names)
//	push:    {"Title", "Content", "Payload"} (events.Push's Go names)
//	pushes:  per member, how a CallingInvite rang it (A2): {} with the
//	         Invite's push, {"none": true} with none, {"push": push} with its own
//	retry:   H4, for a host-chosen CallID: {"invitees": [id], "failed" *: [{"user", "err"}]}
//	merged:  H4 after H3: [{"id", "inviter", "invitee", "deadline": time}]
//	checks:  H6: per member, when its not-received check runs: [time] (zero: none)
//	user:    {"user", "devices": [id] (in login order), "beats" *: [{"at": time, "order"}]}
//	history: {"user", "seq" (its last entry's), "idle" * (its place among the idle
//	         users, 1 the longest idle, H8), "entries": [{"seq", "call": info}]}
//	info:    {"CallID", "Caller", "Mode", "CreatedAt": time, "Timeout": ns,
//	          "ExtendedData", "Members": [member], "EndedAt": time} (Info's Go names)
//	time:    RFC 3339 in UTC, nanoseconds with trailing zeros cut, as
//	         time.Time's MarshalJSON writes it; for a year outside 0 to
//	         9999, which RFC 3339 cannot write, ISO 8601's expanded year:
//	         "+10000-01-01T00:09:00Z", "-0001-12-31T23:59:00Z"
//
// These are the bytes encoding/json gives for the same values, Member,
// Push and Info under their Go names rather than their JSON tags
// (TestSnapshotFormat holds Snapshot to it), but for expanded years, for
// which encoding/json fails. The format stays version 1: every snapshot
// an earlier build could write reads as before, and one with an expanded
// year, which it could not write, it refuses as corrupt. Snapshot writes
// the bytes, and Restore reads them, by hand (snapwrite.go, snapread.go,
// snapjson.go), as fast as B6 asks, which encoding/json's reflection is
// not.

// Snapshot returns the Registry's whole state as versioned, self-describing
// JSON (D2): every live call with its members, absolute deadlines and Seq
// counter, every online device, and the last clock reading. It reads no
// clock and processes nothing (D4). Taken from inside Emit, it holds the
// state after the command; events not yet delivered are not in it.
//
// It holds the Registry's lock only while it copies the state, and encodes
// the copy once the lock is released, so that inputs wait for the copy
// alone (B6). The same state always gives the same bytes.
func (r *Registry) Snapshot() ([]byte, error) {
	// The copy's memory is made, and written once so that the system has
	// mapped it, before the lock is taken for the copy: a glance under the
	// lock sizes it. Should the state grow in between, the copy grows.
	r.mu.Lock()
	calls := r.calls.Len()
	r.mu.Unlock()
	s := newStateCopy(calls)
	r.mu.Lock()
	r.copyState(s)
	r.mu.Unlock()
	return s.encode()
}

// Restore returns a Registry holding the state a Snapshot took, driven by
// the Options given (D2). Deadlines are absolute: one that passed while the
// host was down falls due as soon as the new Registry's clock fires (with
// clock.Manual, on the next Advance), and Seq numbers continue. Presence is
// restored as it was; a host that lost its connections in a crash logs those
// devices out, and G7 applies.
//
// Corrupt, truncated or empty bytes, an unknown or newer format version, or
// a state the rules cannot reach (a deadline before its call was made or
// later than a timeout allows, a caller in an invitee's state, an inviter
// who is no member, a counter at its limit, a history entry with an invalid
// ID or data past the limits, …) are refused with ErrInvalidArgument, whose
// message names the call, member or field; options out of range with
// ErrInvalidOption. The state is checked under the Options given: a
// snapshot of a Registry whose MaxTimeout, MaxInvitees or MaxDataLen were
// larger may hold what these refuse.
func Restore(snap []byte, o Options) (*Registry, error) {
	r, err := NewRegistry(o)
	if err != nil {
		return nil, err
	}
	if err := r.load(snap); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.arm(r.readClock(), time.Time{}) // a deadline already passed is due at once
	r.mu.Unlock()
	return r, nil
}

// readSnapshotIndex reads the "journal" member of a snapshot, skipping the
// others unread (SnapshotIndex).
func readSnapshotIndex(b []byte) (uint64, error) {
	d, first, seen := &jsonReader{b: b}, true, uint64(0)
	if err := d.head(&first, &seen); err != nil {
		return 0, err
	}
	var n uint64
	for {
		k, ok := d.field(&first, topKeys, &seen)
		if !ok {
			break
		}
		if k == topJournal {
			n = d.u64()
			break
		}
		d.skip(0)
	}
	if d.err != nil {
		return 0, badSnapshot("%v", d.err)
	}
	if n == math.MaxUint64 {
		return 0, badSnapshot("journal: the count of entries is at its limit")
	}
	return n, nil
}

// head reads a snapshot's first member, its format version, which must
// be this build's.
func (d *jsonReader) head(first *bool, seen *uint64) error {
	if k, ok := d.field(first, topKeys, seen); !ok || k != topVersion {
		if d.err != nil {
			return badSnapshot("not a snapshot: %v", d.err)
		}
		return badSnapshot("not a snapshot: the first member is not callsig_snapshot")
	}
	if v := d.i64(); d.err != nil {
		return badSnapshot("not a snapshot: callsig_snapshot: %v", d.err)
	} else if v != snapshotVersion {
		return badSnapshot("format version %d, this build reads %d", v, snapshotVersion)
	}
	return nil
}

func badSnapshot(format string, a ...any) error {
	return &Error{Op: "restore", Err: ErrInvalidArgument, Detail: fmt.Sprintf(format, a...)}
}

// load reads a snapshot into an empty Registry, checking everything: the
// bytes, and that the state is one the rules can reach, under the Options
// given (D2). Calls are rebuilt as they are read, with nothing in between
// (B6), once the last reading and the creation order they are checked
// against are known: the members before them in what Snapshot writes.
func (r *Registry) load(b []byte) error {
	d, first, seen := &jsonReader{b: b}, true, uint64(0)
	if err := d.head(&first, &seen); err != nil {
		return err
	}
	var users []snapDevice
	var hist []snapHist
	callsAt, userHint := -1, -1
	for {
		k, ok := d.field(&first, topKeys, &seen)
		if !ok {
			break
		}
		switch k {
		case topVersion: // repeated: field refuses it
		case topLast:
			r.time.present = d.time()
		case topOrder:
			r.calls.created = d.u64()
		case topBeatSeq:
			r.users.heartbeats = d.u64()
		case topJournal:
			r.jnl.count = d.u64()
			r.jnl.durable.Store(r.jnl.count) // a snapshot is written once what it covers is durable
		case topCalls:
			if seen&(1<<topLast|1<<topOrder) == 1<<topLast|1<<topOrder {
				userHint = r.readCalls(d)
			} else {
				callsAt = d.i // read once the rest is
				d.skip(0)
			}
		case topUsers:
			users = readDevices(d)
		case topHistory:
			hist = readHistory(d)
		}
	}
	d.end()
	if callsAt >= 0 && d.err == nil {
		d.i = callsAt
		userHint = r.readCalls(d)
	}
	if d.err != nil {
		var e *Error
		if errors.As(d.err, &e) {
			return d.err
		}
		return badSnapshot("%v", d.err)
	}
	switch {
	case r.calls.created == math.MaxUint64:
		return badSnapshot("order: the count of calls created is at its limit")
	case r.users.heartbeats == math.MaxUint64:
		return badSnapshot("beat_seq: the count of heartbeats is at its limit")
	case r.jnl.count == math.MaxUint64:
		return badSnapshot("journal: the count of entries is at its limit")
	}
	for i := range users {
		if err := r.loadDevices(&users[i]); err != nil {
			return err
		}
	}
	idle, err := r.loadHistory(hist)
	if err != nil {
		return err
	}
	if err := r.restoreIdle(idle); err != nil {
		return err
	}
	if n := r.users.len(); userHint > 4*n+1024 {
		// Users in many calls each: the table was made far too large.
		r.users.resize(n)
	}
	return nil
}

// loadDevices restores one user's online devices and their heartbeats.
func (r *Registry) loadDevices(sd *snapDevice) error {
	// The calls are filed already, and made no record, nor put anyone
	// online: a user online already has come before.
	if !core.ValidID(sd.user) || len(r.devicesOf(sd.user)) > 0 || len(sd.devices) == 0 {
		return badSnapshot("user %s: invalid, repeated or without devices", core.QuoteID(sd.user))
	}
	for i, d := range sd.devices {
		if !core.ValidDevice(d) || slices.Contains(sd.devices[:i], d) {
			return badSnapshot("user %s: invalid or repeated device %s", core.QuoteID(sd.user), core.QuoteID(d))
		}
	}
	if len(sd.beats) != 0 && len(sd.beats) != len(sd.devices) {
		return badSnapshot("user %s: %d heartbeats for %d devices", core.QuoteID(sd.user), len(sd.beats), len(sd.devices))
	}
	for i, b := range sd.beats {
		if b.order == 0 || b.order > r.users.heartbeats {
			// Every heartbeat takes the next number (H5): a later one must
			// come after it at one instant, as it did in the original.
			return badSnapshot("user %s: device %s: heartbeat order %d outside [1, beat_seq %d]", core.QuoteID(sd.user), core.QuoteID(sd.devices[i]), b.order, r.users.heartbeats)
		}
	}
	if !r.needsRecord(sd.devices, 0) { // the history, restored next, may yet need one
		r.loginDefault(sd.user)
		return nil
	}
	u := r.recordFor(sd.user)
	u.devices = sd.devices
	r.users.online += len(sd.devices)
	if r.s.heartbeat > 0 { // H5: restored as they were; a device without one starts now
		for i, d := range sd.devices {
			if i < len(sd.beats) {
				r.addBeat(u, d, sd.beats[i].at, sd.beats[i].order)
			} else {
				r.startBeat(r.time.present, u, d) // ordered after every restored heartbeat
			}
		}
	}
	return nil
}

// loadHistory restores the users' histories (H8), and returns the idle
// users by their place in the idle order, for restoreIdle.
func (r *Registry) loadHistory(hist []snapHist) ([]*user, error) {
	seen := make(map[string]bool, len(hist))
	var idle []*user
	for _, h := range hist {
		if !core.ValidID(h.user) || len(h.entries) == 0 {
			return nil, badSnapshot("history of %s: invalid", core.QuoteID(h.user))
		}
		if seen[h.user] {
			return nil, badSnapshot("history of %s: repeated", core.QuoteID(h.user))
		}
		seen[h.user] = true
		if h.seq == math.MaxUint64 {
			return nil, badSnapshot("history of %s: seq at its limit", core.QuoteID(h.user))
		}
		prev := uint64(0)
		for i := range h.entries {
			e := &h.entries[i]
			if e.seq <= prev || e.seq > h.seq {
				return nil, badSnapshot("history of %s: entry %d out of order", core.QuoteID(h.user), e.seq)
			}
			prev = e.seq
			if err := r.checkEnded(h.user, e.seq, &e.info); err != nil {
				return nil, err
			}
		}
		n := r.s.history
		if n <= 0 {
			continue // History 0 keeps none (H8), restored ones included
		}
		if len(h.entries) > n {
			h.entries = h.entries[len(h.entries)-n:] // a smaller History option keeps the newest
		}
		u := r.recordFor(h.user)
		u.makeExtras().history, u.extra.histSeq = h.entries, h.seq
		if h.idle < 0 || h.idle > int64(len(hist)) {
			return nil, badSnapshot("history of %s: idle place %d out of range", core.QuoteID(h.user), h.idle)
		}
		if k := int(h.idle); k > 0 {
			idle = append(idle, make([]*user, max(0, k-len(idle)))...)
			if idle[k-1] != nil {
				return nil, badSnapshot("history of %s: idle place %d repeated", core.QuoteID(h.user), k)
			}
			idle[k-1] = u
		}
	}
	return idle, nil
}

// checkEnded checks one entry of user's history: a call the rules can have
// ended, of which user was a member, under the Options given (H8).
func (r *Registry) checkEnded(user string, seq uint64, info *Info) error {
	bad := func(format string, a ...any) error {
		return badSnapshot("history of %s: entry %d (call %s): %s", core.QuoteID(user), seq, core.QuoteID(info.CallID), fmt.Sprintf(format, a...))
	}
	ms := info.Members
	switch {
	case !core.ValidID(info.CallID):
		return bad("invalid call ID")
	case info.Mode != events.General && info.Mode != events.Advanced:
		return bad("unknown mode")
	case info.Timeout < MinTimeout || info.Timeout > r.s.maxTimeout:
		return bad("timeout %v outside [%v, %v]", info.Timeout, MinTimeout, r.s.maxTimeout)
	case len(info.ExtendedData) > r.s.maxDataLen:
		return bad("extended data of %d bytes, over %d", len(info.ExtendedData), r.s.maxDataLen)
	// EndedAt may be the zero time: a clock that reads before year 1
	// counts as reading it (D3).
	case info.EndedAt.Before(info.CreatedAt) || info.EndedAt.After(r.time.present):
		return bad("ended at %v, outside [created %v, last reading %v]", info.EndedAt, info.CreatedAt, r.time.present)
	case len(ms) < 2 || len(ms) > r.s.maxInvitees+1:
		return bad("%d members, want 2 to %d", len(ms), r.s.maxInvitees+1)
	case ms[0].User != info.Caller:
		return bad("the first member %s is not the caller %s", core.QuoteID(ms[0].User), core.QuoteID(info.Caller))
	case !slices.ContainsFunc(ms, func(m events.Member) bool { return m.User == user }):
		return bad("the user is no member of the call")
	}
	if err := checkMembers(ms, info.Mode, r.s.maxDataLen); err != nil {
		return bad("%v", err)
	}
	for i := range ms {
		if m := &ms[i]; m.State.Pending() || !m.Deadline.IsZero() {
			return bad("member %d (%s): %v with deadline %v in an ended call", i, core.QuoteID(m.User), m.State, m.Deadline)
		}
	}
	return nil
}

// checkMembers checks what every call's members share, live or ended: valid,
// distinct users; the caller first, Accepted (or Quit, in advanced mode),
// invited by nobody; every invitee invited by another member (in general
// mode, the caller); known states, Quit only in advanced mode; data within
// maxData.
func checkMembers(ms []events.Member, mode events.Mode, maxData int) error {
	for i := range ms {
		m := &ms[i]
		bad := func(format string, a ...any) error {
			return fmt.Errorf("member %d (%s): %s", i, core.QuoteID(m.User), fmt.Sprintf(format, a...))
		}
		switch {
		case !core.ValidID(m.User) || slices.ContainsFunc(ms[:i], func(o events.Member) bool { return o.User == m.User }):
			return bad("invalid or repeated user")
		case m.State > events.NotYetReceived:
			return bad("unknown state")
		case len(m.Data) > maxData:
			return bad("data of %d bytes, over %d", len(m.Data), maxData)
		case mode == events.General && m.State == events.Quit:
			return bad("Quit in a general call")
		case i == 0 && m.Inviter != "":
			return bad("the caller has an inviter")
		case i == 0 && m.State != events.Accepted && m.State != events.Quit:
			// The caller starts Accepted and only Quit and Join move it.
			return bad("the caller is %v", m.State)
		case i > 0 && (m.Inviter == m.User || !slices.ContainsFunc(ms, func(o events.Member) bool { return o.User == m.Inviter })):
			return bad("inviter %s is no other member", core.QuoteID(m.Inviter))
		case i > 0 && mode == events.General && m.Inviter != ms[0].User:
			return bad("inviter %s is not the caller of a general call", core.QuoteID(m.Inviter))
		}
	}
	return nil
}

// loadCall rebuilds one call and checks that it is one the rules can reach.
func (r *Registry) loadCall(sc *snapCall) (*callRecord, error) {
	bad := func(format string, a ...any) (*callRecord, error) {
		return nil, badSnapshot("call %s: %s", core.QuoteID(sc.id), fmt.Sprintf(format, a...))
	}
	switch {
	case len(sc.members) < 2 || len(sc.members) > r.s.maxInvitees+1:
		return bad("%d members, want 2 to %d", len(sc.members), r.s.maxInvitees+1)
	case sc.members[0].User != sc.caller:
		return bad("the first member %s is not the caller %s", core.QuoteID(sc.members[0].User), core.QuoteID(sc.caller))
	case len(sc.pushes) > len(sc.members) || sc.mode == events.General && len(sc.pushes) > 0:
		return bad("%d pushes for %d members", len(sc.pushes), len(sc.members))
	case len(sc.checks) > len(sc.members):
		return bad("%d checks for %d members", len(sc.checks), len(sc.members))
	}
	for i, p := range sc.pushes {
		if !core.ValidPush(p, r.s.maxDataLen) || i == 0 && p != nil {
			return bad("invalid push for member %d", i)
		}
	}
	var extras *core.Extras
	if sc.push != nil || sc.retry != nil || sc.pushes != nil || sc.checks != nil || sc.merged != nil || sc.data != sc.members[0].Data {
		extras = &core.Extras{Push: sc.push, Retry: sc.retry, Pushes: sc.pushes, Checks: sc.checks, Merged: sc.merged}
		if sc.data != sc.members[0].Data {
			extras.InviteData, extras.InviteDataKept = sc.data, true
		}
	}
	c := newRecord(len(sc.members))
	c.order = sc.order
	c.Restore(sc.id, sc.mode, sc.timeout, sc.created, sc.seq, sc.members, extras)
	if err := r.checkCall(c); err != nil {
		return bad("%v", err)
	}
	if extras != nil && r.s.notReceived == 0 {
		// H6 is off under these Options: the checks the snapshot had
		// scheduled are not run, as H5's heartbeats are not when
		// HeartbeatTimeout is zero (loadDevices).
		extras.Checks = nil
	}
	return c, nil
}

// checkCall checks that a restored live call is one the rules can reach,
// under the Options given, by the Registry's last reading (D2).
func (r *Registry) checkCall(c *callRecord) error {
	ms, created, extras := c.Members(), c.CreatedAt(), c.Extras()
	switch {
	case !core.ValidID(c.ID()):
		return errors.New("invalid ID")
	case c.Mode() != events.General && c.Mode() != events.Advanced:
		return errors.New("unknown mode")
	case c.Timeout() < MinTimeout || c.Timeout() > r.s.maxTimeout:
		return fmt.Errorf("timeout %v outside [%v, %v]", c.Timeout(), MinTimeout, r.s.maxTimeout)
	case len(c.InviteData()) > r.s.maxDataLen || !core.ValidPush(c.InvitePush(), r.s.maxDataLen):
		return errors.New("extended data or push too large")
	case c.Seq() == 0:
		return errors.New("seq 0: no events yet")
	case c.Seq() == math.MaxUint64:
		return errors.New("seq at its limit")
	case created.After(r.time.present):
		return fmt.Errorf("created %v, after the last reading %v", created, r.time.present)
	}
	if err := checkMembers(ms, c.Mode(), r.s.maxDataLen); err != nil {
		return err
	}
	// A deadline is the reading at which its member was rung plus a
	// timeout of at least MinTimeout. In general mode every invitee is
	// rung by the Invite, with the call's timeout; in advanced mode a
	// CallingInvite rings at a later reading, not after the last one, with
	// a timeout of its own, at most MaxTimeout (A2).
	lo, hi := created.Add(MinTimeout), r.time.present.Add(r.s.maxTimeout)
	if c.Mode() == events.General {
		lo, hi = created.Add(c.Timeout()), created.Add(c.Timeout())
	}
	for i := range ms {
		m := &ms[i]
		switch {
		case m.State.Pending() == m.Deadline.IsZero():
			return fmt.Errorf("member %d (%s): %v with deadline %v: a deadline must be set exactly while pending", i, core.QuoteID(m.User), m.State, m.Deadline)
		case m.State.Pending() && (m.Deadline.Before(lo) || m.Deadline.After(hi)):
			return fmt.Errorf("member %d (%s): deadline %v outside [%v, %v]", i, core.QuoteID(m.User), m.Deadline, lo, hi)
		}
	}
	if c.Mode() == events.General && c.Pending() == 0 {
		return errors.New("a general call with nobody pending is over")
	}
	if c.Mode() == events.Advanced && c.Pending() == 0 && c.AcceptedInvitees() == 0 && ms[0].State != events.Accepted {
		return errors.New("an advanced call with nobody in it is over")
	}
	if extras == nil {
		return nil
	}
	for i, at := range extras.Checks {
		switch {
		case at.IsZero():
		case i == 0 || ms[i].State != events.Inviting:
			return fmt.Errorf("member %d (%s): a not-received check for a member not Inviting", i, core.QuoteID(ms[i].User))
		case !at.After(created):
			return fmt.Errorf("member %d (%s): not-received check at %v, not after the call was created", i, core.QuoteID(ms[i].User), at)
		}
	}
	isMember := func(u string, from int) bool {
		i := c.Index(u)
		return i >= from
	}
	for _, m := range extras.Merged {
		switch {
		case !core.ValidID(m.ID) || !isMember(m.Inviter, 1) || !isMember(m.Invitee, 0) || m.Inviter == m.Invitee:
			// H3 merges an invite by a pending invitee of its inviter.
			return fmt.Errorf("merged invite %s: %s inviting %s, not an invitee and another member", core.QuoteID(m.ID), core.QuoteID(m.Inviter), core.QuoteID(m.Invitee))
		case c.Mode() == events.General && m.Invitee != ms[0].User:
			return fmt.Errorf("merged invite %s: invitee %s is not the caller of a general call", core.QuoteID(m.ID), core.QuoteID(m.Invitee))
		case m.Deadline.Before(lo) || m.Deadline.After(hi):
			return fmt.Errorf("merged invite %s: deadline %v outside [%v, %v]", core.QuoteID(m.ID), m.Deadline, lo, hi)
		}
	}
	if rt := extras.Retry; rt != nil {
		if len(rt.Invitees) == 0 || len(rt.Invitees) > r.s.maxInvitees || len(rt.Failed) > len(rt.Invitees) {
			return errors.New("invalid retry record")
		}
		for i, u := range rt.Invitees {
			if !core.ValidID(u) || u == ms[0].User || slices.Contains(rt.Invitees[:i], u) {
				return fmt.Errorf("retry record: invitee %s invalid, the caller or repeated", core.QuoteID(u))
			}
		}
		for i, f := range rt.Failed {
			// Admit refused it (H7): one of the invitees. (Its message may
			// be empty: the live error is kept, whatever it says.)
			if !slices.Contains(rt.Invitees, f.User) || slices.ContainsFunc(rt.Failed[:i], func(o core.Failure) bool { return o.User == f.User }) {
				return fmt.Errorf("retry record: failure of %s not one of the invitees, or repeated", core.QuoteID(f.User))
			}
		}
		for _, u := range rt.Invitees {
			if !isMember(u, 1) && !slices.ContainsFunc(rt.Failed, func(f core.Failure) bool { return f.User == u }) {
				return fmt.Errorf("retry record: invitee %s neither rung nor refused", core.QuoteID(u))
			}
		}
	}
	return nil
}
