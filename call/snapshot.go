package call

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
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
// a state that breaks the rules are refused with ErrInvalidArgument; options
// out of range with ErrInvalidOption.
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

// load reads a snapshot into an empty Registry, checking everything.
func (r *Registry) load(b []byte) error {
	var head struct {
		Version *int `json:"callsig_snapshot"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return badSnapshot("not a snapshot: %v", err)
	}
	if head.Version == nil {
		return badSnapshot("no callsig_snapshot version")
	}
	if *head.Version != snapshotVersion {
		return badSnapshot("format version %d, this build reads %d", *head.Version, snapshotVersion)
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
	r.last, r.order, r.beatSeq = s.Last.Round(0).UTC(), s.Order, s.BeatSeq
	for _, sd := range s.Users {
		if !validID(sd.User) || r.record(sd.User) != nil || len(sd.Devices) == 0 {
			return badSnapshot("user %s: invalid, repeated or without devices", quoteID(sd.User))
		}
		for i, d := range sd.Devices {
			if !validDevice(d) || slices.Contains(sd.Devices[:i], d) {
				return badSnapshot("user %s: invalid or repeated device %s", quoteID(sd.User), quoteID(d))
			}
		}
		u := r.recordFor(sd.User)
		u.devices = sd.Devices
		if len(sd.Beats) != 0 && len(sd.Beats) != len(sd.Devices) {
			return badSnapshot("user %s: %d heartbeats for %d devices", quoteID(sd.User), len(sd.Beats), len(sd.Devices))
		}
		if r.s.heartbeat > 0 { // H5: restored as they were; a device without one starts now
			for i, d := range sd.Devices {
				if i < len(sd.Beats) {
					r.addBeat(u, d, sd.Beats[i].At.Round(0).UTC(), sd.Beats[i].Order)
				} else {
					r.startBeat(r.last, u, d) // ordered after every restored heartbeat
				}
			}
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
		hist := make([]histEntry, 0, len(h.Entries))
		prev := uint64(0)
		for _, e := range h.Entries {
			if e.Seq <= prev || e.Seq > h.Seq || !validID(e.Call.CallID) || e.Call.EndedAt.IsZero() {
				return badSnapshot("history of %s: entry %d out of order or invalid", quoteID(h.User), e.Seq)
			}
			prev = e.Seq
			e.Call.CreatedAt, e.Call.EndedAt = e.Call.CreatedAt.Round(0).UTC(), e.Call.EndedAt.Round(0).UTC()
			for i := range e.Call.Members {
				e.Call.Members[i].Deadline = e.Call.Members[i].Deadline.Round(0).UTC()
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

// loadCall rebuilds one call and checks that it is one the rules can reach.
func (r *Registry) loadCall(sc *snapCall) (*callState, error) {
	bad := func(format string, a ...any) (*callState, error) {
		return nil, badSnapshot("call %s: %s", quoteID(sc.ID), fmt.Sprintf(format, a...))
	}
	switch {
	case !validID(sc.ID) || r.calls.get(sc.ID) != nil:
		return bad("invalid or repeated ID")
	case sc.Mode != events.General && sc.Mode != events.Advanced:
		return bad("unknown mode")
	case sc.Timeout < MinTimeout || sc.Timeout > r.s.maxTimeout:
		return bad("timeout %v out of range", sc.Timeout)
	case len(sc.Data) > r.s.maxDataLen || !validPush(sc.Push, r.s.maxDataLen):
		return bad("extended data or push too large")
	case len(sc.Members) < 2 || len(sc.Members) > r.s.maxInvitees+1:
		return bad("%d members", len(sc.Members))
	case sc.Members[0].User != sc.Caller || sc.Members[0].Inviter != "" || sc.Members[0].State.Pending():
		return bad("the first member is not the caller")
	case sc.Seq == 0:
		return bad("no events yet")
	}
	if len(sc.Pushes) > len(sc.Members) || sc.Mode == events.General && len(sc.Pushes) > 0 {
		return bad("%d pushes for %d members", len(sc.Pushes), len(sc.Members))
	}
	var pushes []*events.Push
	for _, p := range sc.Pushes {
		if !validPush(p.Push, r.s.maxDataLen) || p.None && p.Push != nil {
			return bad("invalid member push")
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
		if len(rt.invitees) == 0 || len(rt.invitees) > r.s.maxInvitees || len(rt.failed) > len(rt.invitees) {
			return bad("invalid retry record")
		}
	}
	var merged []mergedRetry
	for _, m := range sc.Merged {
		if !validID(m.ID) || !validID(m.Inviter) || !validID(m.Invitee) || m.Inviter == m.Invitee {
			return bad("invalid merged invite")
		}
		merged = append(merged, mergedRetry{id: m.ID, inviter: m.Inviter, invitee: m.Invitee, deadline: m.Deadline.Round(0).UTC()})
	}
	if len(sc.Checks) > len(sc.Members) {
		return bad("%d checks for %d members", len(sc.Checks), len(sc.Members))
	}
	for i, at := range sc.Checks {
		sc.Checks[i] = at.Round(0).UTC()
		if !at.IsZero() && (i == 0 || sc.Members[i].State != events.Inviting) {
			return bad("a not-received check for a member not Inviting")
		}
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
		switch {
		case !validID(m.User) || slices.ContainsFunc(c.members()[:i], func(o events.Member) bool { return o.User == m.User }):
			return bad("member %d: invalid or repeated user", i)
		case m.State > events.NotYetReceived:
			return bad("member %s: unknown state", quoteID(m.User))
		case i > 0 && !validID(m.Inviter):
			return bad("member %s: invalid inviter", quoteID(m.User))
		case m.State.Pending() == m.Deadline.IsZero():
			return bad("member %s: a deadline must be set exactly while pending", quoteID(m.User))
		case len(m.Data) > r.s.maxDataLen:
			return bad("member %s: data too large", quoteID(m.User))
		case c.mode == events.General && m.State == events.Quit:
			return bad("member %s: Quit in a general call", quoteID(m.User))
		}
		if i > 0 {
			c.pending += b2i(m.State.Pending())
			c.accepted += b2i(m.State == events.Accepted)
		}
	}
	if c.mode == events.General && c.pending == 0 {
		return bad("a general call with nobody pending is over")
	}
	if c.mode == events.Advanced && c.pending == 0 && c.accepted == 0 && c.members()[0].State != events.Accepted {
		return bad("an advanced call with nobody in it is over")
	}
	return c, nil
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
