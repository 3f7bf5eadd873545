package call

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/callsig/callsig/events"
)

// snapshotVersion is the format Snapshot writes and Restore reads (D2).
const snapshotVersion = 1

// snapshot is the whole state of a Registry, as JSON. Its first member is
// the format version, so that a reader can tell the format before anything
// else.
type snapshot struct {
	Version int          `json:"callsig_snapshot"`
	Last    time.Time    `json:"last"`               // the latest clock reading (D3)
	Order   uint64       `json:"order"`              // calls created so far
	BeatSeq uint64       `json:"beat_seq,omitempty"` // H5: heartbeats so far
	Calls   []snapCall   `json:"calls"`              // live calls, oldest first
	Users   []snapDevice `json:"users"`              // online devices, by user ID
	History []snapHist   `json:"history,omitempty"`  // H8: ended calls per user, by user ID
}

type snapHist struct {
	User    string          `json:"user"`
	Seq     uint64          `json:"seq"`            // the number of the user's last entry
	Idle    int             `json:"idle,omitempty"` // its place among the idle users, 1 the longest idle; 0: not idle
	Entries []snapHistEntry `json:"entries"`
}

type snapHistEntry struct {
	Seq  uint64 `json:"seq"`
	Call Info   `json:"call"`
}

type snapCall struct {
	ID      string          `json:"id"`
	Caller  string          `json:"caller"`
	Mode    events.Mode     `json:"mode"`
	Created time.Time       `json:"created"`
	Timeout time.Duration   `json:"timeout"`
	Data    string          `json:"data,omitempty"`
	Push    *events.Push    `json:"push,omitempty"`
	Order   uint64          `json:"order"` // creation order (the Time rule)
	Seq     uint64          `json:"seq"`   // the last Seq handed out (G9)
	Members []events.Member `json:"members"`
	Pushes  []snapPush      `json:"pushes,omitempty"` // per member, where a CallingInvite's push differs from the Invite's
	Retry   *snapRetry      `json:"retry,omitempty"`  // H4: what a retry of a host-chosen CallID needs
	Merged  []snapMerged    `json:"merged,omitempty"` // H4: invites with a host-chosen CallID that H3 merged into this call
	Checks  []time.Time     `json:"checks,omitempty"` // H6: per member, when its not-received check runs (zero: none)
}

type snapRetry struct {
	Invitees []string      `json:"invitees"`
	Failed   []snapFailure `json:"failed,omitempty"`
}

// snapMerged is a mergedRetry.
type snapMerged struct {
	ID       string    `json:"id"`
	Inviter  string    `json:"inviter"`
	Invitee  string    `json:"invitee"`
	Deadline time.Time `json:"deadline"`
}

// snapFailure keeps a Failure's error as its message (D2).
type snapFailure struct {
	User string `json:"user"`
	Err  string `json:"err"`
}

// snapPush is one member's push settings: {} the Invite's, {"none":true}
// none (a CallingInvite without push), else the CallingInvite's.
type snapPush struct {
	Push *events.Push `json:"push,omitempty"`
	None bool         `json:"none,omitempty"`
}

type snapDevice struct {
	User    string     `json:"user"`
	Devices []string   `json:"devices"`         // in login order
	Beats   []snapBeat `json:"beats,omitempty"` // H5: per device, its heartbeat deadline
}

type snapBeat struct {
	At    time.Time `json:"at"`
	Order uint64    `json:"order"` // the order of its last heartbeat
}

// Snapshot returns the Registry's whole state as versioned, self-describing
// JSON (D2): every live call with its members, absolute deadlines and Seq
// counter, every online device, and the last clock reading. It reads no
// clock and processes nothing (D4). Taken from inside Emit, it holds the
// state after the command; events not yet delivered are not in it.
func (r *Registry) Snapshot() ([]byte, error) {
	r.mu.Lock()
	s := snapshot{Version: snapshotVersion, Last: r.last, Order: r.order, BeatSeq: r.beatSeq, Calls: []snapCall{}, Users: []snapDevice{}}
	r.calls.each(func(c *callState) {
		s.Calls = append(s.Calls, snapCall{
			ID: c.id, Caller: c.callerID(), Mode: c.mode, Created: c.createdAt(), Timeout: c.timeout,
			Data: c.inviteData(), Order: c.order, Seq: c.seq, Members: slices.Clone(c.members()), Checks: slices.Clone(c.checks()),
		})
		if x := c.x; x != nil {
			sc := &s.Calls[len(s.Calls)-1]
			sc.Push, sc.Pushes, sc.Retry = x.push, snapPushes(x.pushes), snapRetryOf(x.retry)
			for _, m := range x.merged {
				sc.Merged = append(sc.Merged, snapMerged{ID: m.id, Inviter: m.inviter, Invitee: m.invitee, Deadline: m.deadline})
			}
		}
	})
	r.users.each(func(u *user) {
		id := u.id
		if len(u.devices) > 0 {
			sd := snapDevice{User: id, Devices: slices.Clone(u.devices)}
			for _, b := range u.beats() {
				sd.Beats = append(sd.Beats, snapBeat{At: b.at, Order: b.order})
			}
			s.Users = append(s.Users, sd)
		}
		if len(u.history()) > 0 && !u.isIdle() {
			s.History = append(s.History, snapHistOf(u, 0))
		}
	})
	for u, k := r.idle.head, 1; u != nil; u, k = u.x.idleNext, k+1 { // H8: the idle order, so that a restore drops the same users
		s.History = append(s.History, snapHistOf(u, k))
	}
	r.mu.Unlock()
	sort.Slice(s.History, func(i, j int) bool { return s.History[i].User < s.History[j].User })
	sort.Slice(s.Calls, func(i, j int) bool { return s.Calls[i].Order < s.Calls[j].Order })
	sort.Slice(s.Users, func(i, j int) bool { return s.Users[i].User < s.Users[j].User })
	return json.Marshal(s)
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
	r.arm(r.s.clock.Now()) // a deadline already passed is due at once
	r.mu.Unlock()
	return r, nil
}

func badSnapshot(format string, a ...any) error {
	return &Error{Op: "restore", Err: ErrInvalidArgument, Detail: fmt.Sprintf(format, a...)}
}

// load reads a snapshot into an empty Registry, checking everything: the
// bytes, and that the state is one the rules can reach, under the Options
// given (D2).
func (r *Registry) load(b []byte) error {
	version, err := readVersion(b)
	if err != nil {
		return err
	}
	if version != snapshotVersion {
		return badSnapshot("format version %d, this build reads %d", version, snapshotVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s snapshot
	if err := dec.Decode(&s); err != nil {
		return badSnapshot("%v", err)
	}
	if dec.More() {
		return badSnapshot("trailing data")
	}
	if s.Version != version {
		return badSnapshot("callsig_snapshot repeated")
	}
	r.last, r.order, r.beatSeq = s.Last.Round(0).UTC(), s.Order, s.BeatSeq
	switch {
	case r.order == math.MaxUint64:
		return badSnapshot("order: the count of calls created is at its limit")
	case r.beatSeq == math.MaxUint64:
		return badSnapshot("beat_seq: the count of heartbeats is at its limit")
	}
	for _, sd := range s.Users {
		if err := r.loadDevices(&sd); err != nil {
			return err
		}
	}
	seenHist := make(map[string]bool, len(s.History))
	var idle []*user // H8: by place in the idle order
	for _, h := range s.History {
		if !validID(h.User) || len(h.Entries) == 0 {
			return badSnapshot("history of %s: invalid", quoteID(h.User))
		}
		if seenHist[h.User] {
			return badSnapshot("history of %s: repeated", quoteID(h.User))
		}
		seenHist[h.User] = true
		if h.Seq == math.MaxUint64 {
			return badSnapshot("history of %s: seq at its limit", quoteID(h.User))
		}
		hist := make([]histEntry, 0, len(h.Entries))
		prev := uint64(0)
		for _, e := range h.Entries {
			if e.Seq <= prev || e.Seq > h.Seq {
				return badSnapshot("history of %s: entry %d out of order", quoteID(h.User), e.Seq)
			}
			prev = e.Seq
			e.Call.CreatedAt, e.Call.EndedAt = e.Call.CreatedAt.Round(0).UTC(), e.Call.EndedAt.Round(0).UTC()
			for i := range e.Call.Members {
				e.Call.Members[i].Deadline = e.Call.Members[i].Deadline.Round(0).UTC()
			}
			if err := r.checkEnded(h.User, e.Seq, &e.Call); err != nil {
				return err
			}
			hist = append(hist, histEntry{seq: e.Seq, info: e.Call})
		}
		n := r.s.history
		if n <= 0 {
			continue // History 0 keeps none (H8), restored ones included
		}
		if len(hist) > n {
			hist = hist[len(hist)-n:] // a smaller History option keeps the newest
		}
		u := r.recordFor(h.User)
		u.extras().history, u.x.histSeq = hist, h.Seq
		if h.Idle < 0 || h.Idle > len(s.History) {
			return badSnapshot("history of %s: idle place %d out of range", quoteID(h.User), h.Idle)
		}
		if h.Idle > 0 {
			idle = append(idle, make([]*user, max(0, h.Idle-len(idle)))...)
			if idle[h.Idle-1] != nil {
				return badSnapshot("history of %s: idle place %d repeated", quoteID(h.User), h.Idle)
			}
			idle[h.Idle-1] = u
		}
	}
	lastOrder := uint64(0)
	for i := range s.Calls {
		sc := &s.Calls[i]
		c, err := r.loadCall(sc)
		if err != nil {
			return err
		}
		if sc.Order <= lastOrder || sc.Order > r.order {
			return badSnapshot("call %s: creation order %d out of sequence", quoteID(sc.ID), sc.Order)
		}
		lastOrder = sc.Order
		r.calls.put(c)
		for j := range c.members() {
			r.link(c, j)
		}
		next, kind := c.nextDeadline()
		r.due.set(c, next, kind)
	}
	return r.restoreIdle(idle)
}

// readVersion returns the format version, the value of the snapshot's
// first member, which must be "callsig_snapshot" (D2): a reader tells the
// format before anything else.
func readVersion(b []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, badSnapshot("not a snapshot: not a JSON object")
	}
	if tok, err := dec.Token(); err != nil || tok != "callsig_snapshot" {
		return 0, badSnapshot("not a snapshot: the first member is not callsig_snapshot")
	}
	tok, err := dec.Token()
	n, ok := tok.(json.Number)
	if err != nil || !ok {
		return 0, badSnapshot("not a snapshot: callsig_snapshot is not a number")
	}
	v, err := strconv.Atoi(string(n))
	if err != nil {
		return 0, badSnapshot("not a snapshot: callsig_snapshot %s is not a version", n)
	}
	return v, nil
}

// loadDevices restores one user's online devices and their heartbeats.
func (r *Registry) loadDevices(sd *snapDevice) error {
	if !validID(sd.User) || r.record(sd.User) != nil || len(sd.Devices) == 0 {
		return badSnapshot("user %s: invalid, repeated or without devices", quoteID(sd.User))
	}
	for i, d := range sd.Devices {
		if !validDevice(d) || slices.Contains(sd.Devices[:i], d) {
			return badSnapshot("user %s: invalid or repeated device %s", quoteID(sd.User), quoteID(d))
		}
	}
	if len(sd.Beats) != 0 && len(sd.Beats) != len(sd.Devices) {
		return badSnapshot("user %s: %d heartbeats for %d devices", quoteID(sd.User), len(sd.Beats), len(sd.Devices))
	}
	for i, b := range sd.Beats {
		if b.Order == 0 || b.Order > r.beatSeq {
			// Every heartbeat takes the next number (H5): a later one must
			// come after it at one instant, as it did in the original.
			return badSnapshot("user %s: device %s: heartbeat order %d outside [1, beat_seq %d]", quoteID(sd.User), quoteID(sd.Devices[i]), b.Order, r.beatSeq)
		}
	}
	u := r.recordFor(sd.User)
	u.devices = sd.Devices
	if r.s.heartbeat > 0 { // H5: restored as they were; a device without one starts now
		for i, d := range sd.Devices {
			if i < len(sd.Beats) {
				r.addBeat(u, d, sd.Beats[i].At.Round(0).UTC(), sd.Beats[i].Order)
			} else {
				r.startBeat(r.last, u, d) // ordered after every restored heartbeat
			}
		}
	}
	return nil
}

// checkEnded checks one entry of user's history: a call the rules can have
// ended, of which user was a member, under the Options given (H8).
func (r *Registry) checkEnded(user string, seq uint64, info *Info) error {
	bad := func(format string, a ...any) error {
		return badSnapshot("history of %s: entry %d (call %s): %s", quoteID(user), seq, quoteID(info.CallID), fmt.Sprintf(format, a...))
	}
	ms := info.Members
	switch {
	case !validID(info.CallID):
		return bad("invalid call ID")
	case info.Mode != events.General && info.Mode != events.Advanced:
		return bad("unknown mode")
	case info.Timeout < MinTimeout || info.Timeout > r.s.maxTimeout:
		return bad("timeout %v outside [%v, %v]", info.Timeout, MinTimeout, r.s.maxTimeout)
	case len(info.ExtendedData) > r.s.maxDataLen:
		return bad("extended data of %d bytes, over %d", len(info.ExtendedData), r.s.maxDataLen)
	case info.EndedAt.IsZero() || info.EndedAt.Before(info.CreatedAt) || info.EndedAt.After(r.last):
		return bad("ended at %v, outside [created %v, last reading %v]", info.EndedAt, info.CreatedAt, r.last)
	case len(ms) < 2 || len(ms) > r.s.maxInvitees+1:
		return bad("%d members, want 2 to %d", len(ms), r.s.maxInvitees+1)
	case ms[0].User != info.Caller:
		return bad("the first member %s is not the caller %s", quoteID(ms[0].User), quoteID(info.Caller))
	case !slices.ContainsFunc(ms, func(m events.Member) bool { return m.User == user }):
		return bad("the user is no member of the call")
	}
	if err := checkMembers(ms, info.Mode, r.s.maxDataLen); err != nil {
		return bad("%v", err)
	}
	for i := range ms {
		if m := &ms[i]; m.State.Pending() || !m.Deadline.IsZero() {
			return bad("member %d (%s): %v with deadline %v in an ended call", i, quoteID(m.User), m.State, m.Deadline)
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
		who := fmt.Sprintf("member %d (%s)", i, quoteID(m.User))
		switch {
		case !validID(m.User) || slices.ContainsFunc(ms[:i], func(o events.Member) bool { return o.User == m.User }):
			return fmt.Errorf("%s: invalid or repeated user", who)
		case m.State > events.NotYetReceived:
			return fmt.Errorf("%s: unknown state", who)
		case len(m.Data) > maxData:
			return fmt.Errorf("%s: data of %d bytes, over %d", who, len(m.Data), maxData)
		case mode == events.General && m.State == events.Quit:
			return fmt.Errorf("%s: Quit in a general call", who)
		case i == 0 && m.Inviter != "":
			return fmt.Errorf("%s: the caller has an inviter", who)
		case i == 0 && m.State != events.Accepted && m.State != events.Quit:
			// The caller starts Accepted and only Quit and Join move it.
			return fmt.Errorf("%s: the caller is %v", who, m.State)
		case i > 0 && (m.Inviter == m.User || !slices.ContainsFunc(ms, func(o events.Member) bool { return o.User == m.Inviter })):
			return fmt.Errorf("%s: inviter %s is no other member", who, quoteID(m.Inviter))
		case i > 0 && mode == events.General && m.Inviter != ms[0].User:
			return fmt.Errorf("%s: inviter %s is not the caller of a general call", who, quoteID(m.Inviter))
		}
	}
	return nil
}

// loadCall rebuilds one call and checks that it is one the rules can reach.
func (r *Registry) loadCall(sc *snapCall) (*callState, error) {
	bad := func(format string, a ...any) (*callState, error) {
		return nil, badSnapshot("call %s: %s", quoteID(sc.ID), fmt.Sprintf(format, a...))
	}
	switch {
	case len(sc.Members) < 2 || len(sc.Members) > r.s.maxInvitees+1:
		return bad("%d members, want 2 to %d", len(sc.Members), r.s.maxInvitees+1)
	case sc.Members[0].User != sc.Caller:
		return bad("the first member %s is not the caller %s", quoteID(sc.Members[0].User), quoteID(sc.Caller))
	}
	if len(sc.Pushes) > len(sc.Members) || sc.Mode == events.General && len(sc.Pushes) > 0 {
		return bad("%d pushes for %d members", len(sc.Pushes), len(sc.Members))
	}
	var pushes []*events.Push
	for i, p := range sc.Pushes {
		if !validPush(p.Push, r.s.maxDataLen) || p.None && p.Push != nil || i == 0 && (p.None || p.Push != nil) {
			return bad("invalid push for member %d", i)
		}
		if p.None {
			p.Push = noPush // rung without push settings
		}
		pushes = append(pushes, p.Push)
	}
	var rt *retry
	if sc.Retry != nil {
		rt = &retry{invitees: sc.Retry.Invitees}
		for _, f := range sc.Retry.Failed {
			rt.failed = append(rt.failed, Failure{User: f.User, Err: errors.New(f.Err)})
		}
	}
	var merged []mergedRetry
	for _, m := range sc.Merged {
		merged = append(merged, mergedRetry{id: m.ID, inviter: m.Inviter, invitee: m.Invitee, deadline: m.Deadline.Round(0).UTC()})
	}
	if len(sc.Checks) > len(sc.Members) {
		return bad("%d checks for %d members", len(sc.Checks), len(sc.Members))
	}
	for i, at := range sc.Checks {
		sc.Checks[i] = at.Round(0).UTC()
	}
	c := allocCall(len(sc.Members))
	copy(c.members(), sc.Members)
	c.id, c.mode, c.timeout, c.order, c.seq, c.dueHandle = sc.ID, sc.Mode, sc.Timeout, sc.Order, sc.Seq, noSlot
	c.setCreated(sc.Created.Round(0).UTC())
	if sc.Push != nil || rt != nil || pushes != nil || sc.Checks != nil || merged != nil || sc.Data != sc.Members[0].Data {
		c.x = &callExtras{push: sc.Push, retry: rt, pushes: pushes, checks: sc.Checks, merged: merged}
		if sc.Data != sc.Members[0].Data {
			c.x.data, c.x.dataPinned = sc.Data, true
		}
	}
	for i := range c.members() {
		m := &c.members()[i]
		m.Deadline = m.Deadline.Round(0).UTC()
		if i > 0 {
			c.pending += b2i(m.State.Pending())
			c.accepted += b2i(m.State == events.Accepted)
		}
	}
	if err := r.checkCall(c); err != nil {
		return bad("%v", err)
	}
	return c, nil
}

// checkCall checks that a restored live call is one the rules can reach,
// under the Options given, by the Registry's last reading (D2).
func (r *Registry) checkCall(c *callState) error {
	ms, created := c.members(), c.createdAt()
	switch {
	case !validID(c.id) || r.calls.get(c.id) != nil:
		return errors.New("invalid or repeated ID")
	case c.mode != events.General && c.mode != events.Advanced:
		return errors.New("unknown mode")
	case c.timeout < MinTimeout || c.timeout > r.s.maxTimeout:
		return fmt.Errorf("timeout %v outside [%v, %v]", c.timeout, MinTimeout, r.s.maxTimeout)
	case len(c.inviteData()) > r.s.maxDataLen || !validPush(c.invitePush(), r.s.maxDataLen):
		return errors.New("extended data or push too large")
	case c.seq == 0:
		return errors.New("seq 0: no events yet")
	case c.seq == math.MaxUint64:
		return errors.New("seq at its limit")
	case created.After(r.last):
		return fmt.Errorf("created %v, after the last reading %v", created, r.last)
	}
	if err := checkMembers(ms, c.mode, r.s.maxDataLen); err != nil {
		return err
	}
	// A deadline is the reading at which its member was rung plus a
	// timeout of at least MinTimeout. In general mode every invitee is
	// rung by the Invite, with the call's timeout; in advanced mode a
	// CallingInvite rings at a later reading, not after the last one, with
	// a timeout of its own, at most MaxTimeout (A2).
	lo, hi := created.Add(MinTimeout), r.last.Add(r.s.maxTimeout)
	if c.mode == events.General {
		lo, hi = created.Add(c.timeout), created.Add(c.timeout)
	}
	for i := range ms {
		m := &ms[i]
		switch {
		case m.State.Pending() == m.Deadline.IsZero():
			return fmt.Errorf("member %d (%s): %v with deadline %v: a deadline must be set exactly while pending", i, quoteID(m.User), m.State, m.Deadline)
		case m.State.Pending() && (m.Deadline.Before(lo) || m.Deadline.After(hi)):
			return fmt.Errorf("member %d (%s): deadline %v outside [%v, %v]", i, quoteID(m.User), m.Deadline, lo, hi)
		}
	}
	if c.mode == events.General && c.pending == 0 {
		return errors.New("a general call with nobody pending is over")
	}
	if c.mode == events.Advanced && c.pending == 0 && c.accepted == 0 && ms[0].State != events.Accepted {
		return errors.New("an advanced call with nobody in it is over")
	}
	if c.x == nil {
		return nil
	}
	for i, at := range c.x.checks {
		switch {
		case at.IsZero():
		case i == 0 || ms[i].State != events.Inviting:
			return fmt.Errorf("member %d (%s): a not-received check for a member not Inviting", i, quoteID(ms[i].User))
		case !at.After(created):
			return fmt.Errorf("member %d (%s): not-received check at %v, not after the call was created", i, quoteID(ms[i].User), at)
		}
	}
	isMember := func(u string, from int) bool {
		i := c.index(u)
		return i >= from
	}
	for _, m := range c.x.merged {
		switch {
		case !validID(m.id) || !isMember(m.inviter, 1) || !isMember(m.invitee, 0) || m.inviter == m.invitee:
			// H3 merges an invite by a pending invitee of its inviter.
			return fmt.Errorf("merged invite %s: %s inviting %s, not an invitee and another member", quoteID(m.id), quoteID(m.inviter), quoteID(m.invitee))
		case c.mode == events.General && m.invitee != ms[0].User:
			return fmt.Errorf("merged invite %s: invitee %s is not the caller of a general call", quoteID(m.id), quoteID(m.invitee))
		case m.deadline.Before(lo) || m.deadline.After(hi):
			return fmt.Errorf("merged invite %s: deadline %v outside [%v, %v]", quoteID(m.id), m.deadline, lo, hi)
		}
	}
	if rt := c.x.retry; rt != nil {
		if len(rt.invitees) == 0 || len(rt.invitees) > r.s.maxInvitees || len(rt.failed) > len(rt.invitees) {
			return errors.New("invalid retry record")
		}
		for i, u := range rt.invitees {
			if !validID(u) || u == ms[0].User || slices.Contains(rt.invitees[:i], u) {
				return fmt.Errorf("retry record: invitee %s invalid, the caller or repeated", quoteID(u))
			}
		}
		for i, f := range rt.failed {
			// Admit refused it (H7): one of the invitees. (Its message may
			// be empty: the live error is kept, whatever it says.)
			if !slices.Contains(rt.invitees, f.User) || slices.ContainsFunc(rt.failed[:i], func(o Failure) bool { return o.User == f.User }) {
				return fmt.Errorf("retry record: failure of %s not one of the invitees, or repeated", quoteID(f.User))
			}
		}
		for _, u := range rt.invitees {
			if !isMember(u, 1) && !slices.ContainsFunc(rt.failed, func(f Failure) bool { return f.User == u }) {
				return fmt.Errorf("retry record: invitee %s neither rung nor refused", quoteID(u))
			}
		}
	}
	return nil
}

func snapPushes(ps []*events.Push) []snapPush {
	if ps == nil {
		return nil
	}
	out := make([]snapPush, len(ps))
	for i, p := range ps {
		if p == noPush {
			out[i].None = true
		} else {
			out[i].Push = p
		}
	}
	return out
}

func snapRetryOf(rt *retry) *snapRetry {
	if rt == nil {
		return nil
	}
	s := &snapRetry{Invitees: rt.invitees}
	for _, f := range rt.failed {
		s.Failed = append(s.Failed, snapFailure{User: f.User, Err: f.Err.Error()})
	}
	return s
}
