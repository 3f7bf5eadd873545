package call

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// The snapshot format as encoding/json wrote it, from the struct types
// Snapshot used before it wrote JSON by hand: TestSnapshotFormat checks
// that the hand-written encoding gives the same bytes (D2, format 1).
// Tests that edit a snapshot decode it into these too.

// legacySnap is the whole state of a Registry, as JSON. Its first member is
// the format version, so that a reader can tell the format before anything
// else.
type legacySnap struct {
	Version int            `json:"callsig_snapshot"`
	Last    time.Time      `json:"last"`               // the latest clock reading (D3)
	Order   uint64         `json:"order"`              // calls created so far
	BeatSeq uint64         `json:"beat_seq,omitempty"` // H5: heartbeats so far
	Journal uint64         `json:"journal,omitempty"`  // D1: entries journaled so far
	Calls   []legacyCall   `json:"calls"`              // live calls, oldest first
	Users   []legacyDevice `json:"users"`              // online devices, by user ID
	History []legacyHist   `json:"history,omitempty"`  // H8: ended calls per user, by user ID
}

type legacyHist struct {
	User    string            `json:"user"`
	Seq     uint64            `json:"seq"`            // the number of the user's last entry
	Idle    int               `json:"idle,omitempty"` // its place among the idle users, 1 the longest idle; 0: not idle
	Entries []legacyHistEntry `json:"entries"`
}

type legacyHistEntry struct {
	Seq  uint64     `json:"seq"`
	Call legacyInfo `json:"call"`
}

// legacyMember, legacyPushFields and legacyInfo are events.Member,
// events.Push and Info as the format writes them: under their Go field
// names, every field, Timeout in nanoseconds. Their JSON form on a wire
// (wire.go, package events) is another.
type (
	legacyMember struct {
		User     string
		State    events.State
		Inviter  string
		Deadline time.Time
		Data     string
	}
	legacyPushFields struct{ Title, Content, Payload string }
	legacyInfo       struct {
		CallID       string
		Caller       string
		Mode         events.Mode
		CreatedAt    time.Time
		Timeout      time.Duration
		ExtendedData string
		Members      []legacyMember
		EndedAt      time.Time
	}
)

func legacyMembers(ms []events.Member) []legacyMember {
	out := make([]legacyMember, len(ms))
	for i, m := range ms {
		out[i] = legacyMember(m)
	}
	return out
}

func legacyInfoOf(i Info) legacyInfo {
	return legacyInfo{CallID: i.CallID, Caller: i.Caller, Mode: i.Mode, CreatedAt: i.CreatedAt, Timeout: i.Timeout,
		ExtendedData: i.ExtendedData, Members: legacyMembers(i.Members), EndedAt: i.EndedAt}
}

type legacyCall struct {
	ID      string            `json:"id"`
	Caller  string            `json:"caller"`
	Mode    events.Mode       `json:"mode"`
	Created time.Time         `json:"created"`
	Timeout time.Duration     `json:"timeout"`
	Data    string            `json:"data,omitempty"`
	Push    *legacyPushFields `json:"push,omitempty"`
	Order   uint64            `json:"order"` // creation order (the Time rule)
	Seq     uint64            `json:"seq"`   // the last Seq handed out (G9)
	Members []legacyMember    `json:"members"`
	Pushes  []legacyPush      `json:"pushes,omitempty"` // per member, where a CallingInvite's push differs from the Invite's
	Retry   *legacyRetryRec   `json:"retry,omitempty"`  // H4: what a retry of a host-chosen CallID needs
	Merged  []legacyMerged    `json:"merged,omitempty"` // H4: invites with a host-chosen CallID that H3 merged into this call
	Checks  []time.Time       `json:"checks,omitempty"` // H6: per member, when its not-received check runs (zero: none)
}

type legacyRetryRec struct {
	Invitees []string        `json:"invitees"`
	Failed   []legacyFailure `json:"failed,omitempty"`
}

// legacyMerged is a core.Merged.
type legacyMerged struct {
	ID       string    `json:"id"`
	Inviter  string    `json:"inviter"`
	Invitee  string    `json:"invitee"`
	Deadline time.Time `json:"deadline"`
}

// legacyFailure keeps a Failure's error as its message (D2).
type legacyFailure struct {
	User string `json:"user"`
	Err  string `json:"err"`
}

// legacyPush is one member's push settings: {} the Invite's, {"none":true}
// none (a CallingInvite without push), else the CallingInvite's.
type legacyPush struct {
	Push *legacyPushFields `json:"push,omitempty"`
	None bool              `json:"none,omitempty"`
}

type legacyDevice struct {
	User    string       `json:"user"`
	Devices []string     `json:"devices"`         // in login order
	Beats   []legacyBeat `json:"beats,omitempty"` // H5: per device, its heartbeat deadline
}

type legacyBeat struct {
	At    time.Time `json:"at"`
	Order uint64    `json:"order"` // the order of its last heartbeat
}

// legacySnapshot is Snapshot as it was, through encoding/json.
func (r *Registry) legacySnapshot() ([]byte, error) {
	r.mu.Lock()
	s := legacySnap{Version: 1, Last: r.time.present, Order: r.calls.created, BeatSeq: r.users.heartbeats, Journal: r.jnl.count, Calls: []legacyCall{}, Users: []legacyDevice{}}
	r.calls.Each(func(c *callRecord) {
		s.Calls = append(s.Calls, legacyCall{
			ID: c.ID(), Caller: c.Caller(), Mode: c.Mode(), Created: c.CreatedAt(), Timeout: c.Timeout(),
			Data: c.InviteData(), Order: c.order, Seq: c.Seq(), Members: legacyMembers(c.Members()),
		})
		if x := c.Extras(); x != nil {
			sc := &s.Calls[len(s.Calls)-1]
			sc.Checks = slices.Clone(x.Checks)
			sc.Push, sc.Pushes, sc.Retry = (*legacyPushFields)(x.Push), legacyPushes(x.Pushes), legacyRetry(x.Retry)
			for _, m := range x.Merged {
				sc.Merged = append(sc.Merged, legacyMerged{ID: m.ID, Inviter: m.Inviter, Invitee: m.Invitee, Deadline: m.Deadline})
			}
		}
	})
	r.users.eachOnline(func(id string, devices []string) { // users without a record included
		sd := legacyDevice{User: id, Devices: slices.Clone(devices)}
		if u := r.record(id); u != nil {
			for _, b := range u.beats() {
				sd.Beats = append(sd.Beats, legacyBeat{At: b.at, Order: b.order})
			}
		}
		s.Users = append(s.Users, sd)
	})
	r.users.each(func(u *user) {
		if len(u.history()) > 0 && !u.isIdle() {
			s.History = append(s.History, legacyHistOf(u, 0))
		}
	})
	for u, k := r.users.idle.head, 1; u != nil; u, k = u.extra.idleNext, k+1 { // H8: the idle order, so that a restore drops the same users
		s.History = append(s.History, legacyHistOf(u, k))
	}
	r.mu.Unlock()
	sort.Slice(s.History, func(i, j int) bool { return s.History[i].User < s.History[j].User })
	sort.Slice(s.Calls, func(i, j int) bool { return s.Calls[i].Order < s.Calls[j].Order })
	sort.Slice(s.Users, func(i, j int) bool { return s.Users[i].User < s.Users[j].User })
	return json.Marshal(s)
}

// legacyHistOf returns u's history as a snapshot keeps it, with its place
// among the idle users (0: not idle).
func legacyHistOf(u *user, idle int) legacyHist {
	h := legacyHist{User: u.id, Seq: u.extra.histSeq, Idle: idle}
	for _, e := range u.history() {
		h.Entries = append(h.Entries, legacyHistEntry{Seq: e.seq, Call: legacyInfoOf(e.info)})
	}
	return h
}

func legacyPushes(ps []*events.Push) []legacyPush {
	if ps == nil {
		return nil
	}
	out := make([]legacyPush, len(ps))
	for i, p := range ps {
		if p == core.NoPush {
			out[i].None = true
		} else {
			out[i].Push = (*legacyPushFields)(p)
		}
	}
	return out
}

func legacyRetry(rt *core.Retry) *legacyRetryRec {
	if rt == nil {
		return nil
	}
	s := &legacyRetryRec{Invitees: rt.Invitees}
	for _, f := range rt.Failed {
		s.Failed = append(s.Failed, legacyFailure{User: f.User, Err: f.Err.Error()})
	}
	return s
}

// TestSnapshotFormat: D2 — Snapshot writes, byte for byte, what
// encoding/json wrote for the same state (format 1 is unchanged), and
// Restore reads it back to the same bytes, along random sessions that
// reach every part of the format: both modes, data and IDs that JSON
// escapes, pushes of both kinds, retries, merges, not-received checks,
// heartbeats, history and the idle order.
func TestSnapshotFormat(t *testing.T) {
	admit := func(_, invitee string) error {
		if invitee == "dora" {
			return errors.New("")
		}
		if invitee == "eve" {
			return errors.New("blocked <&>")
		}
		return nil
	}
	variants := map[string]Options{
		"plain":    {},
		"policies": {History: 3, HeartbeatTimeout: 50 * time.Second, NotReceivedAfter: 7 * time.Second, Glare: GlareMerge, Admit: admit},
		"busy":     {Busy: BusyInCall, History: 1, NotReceivedAfter: time.Second},
	}
	users := []string{"ann", "bob", "cy<&>", "dora", "eve", "fé\u2028"}
	datas := []string{"", "", "x", "<&>\"\\\n\t\x01\x7f", "\xff\xfeinvalid", "\u2028\u2029é"}
	for name, o := range variants {
		for seed := range uint64(6) {
			rng := rand.New(rand.NewPCG(seed, 11))
			// Odd seeds use IDs that need no escaping, which Snapshot
			// sizes its buffer for exactly (an ID that needs some makes it
			// grow).
			plainIDs := seed%2 == 1
			users, idForm := users, "h%d<%d>"
			if plainIDs {
				users, idForm = []string{"ann", "bob", "cy", "dora", "eve", "fe"}, "h%d-%d"
			}
			clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
			o.Clock, o.Sink = clk, events.Discard
			r, err := NewRegistry(o)
			if err != nil {
				t.Fatal(err)
			}
			if seed%3 == 2 {
				r.users.idle.max = 2 // H8: idle users dropped along the session
			}
			var ids []string
			pick := func(list []string) string { return list[rng.IntN(len(list))] }
			some := func() []string {
				var out []string
				for _, u := range users {
					if rng.IntN(3) == 0 {
						out = append(out, u)
					}
				}
				return out
			}
			push := func() *events.Push {
				if rng.IntN(3) > 0 {
					return nil
				}
				return &events.Push{Title: pick(datas), Content: pick(datas), Payload: pick(datas)}
			}
			callID := func() string {
				if len(ids) == 0 {
					return "none"
				}
				return pick(ids)
			}
			for step := range 300 {
				u, data := pick(users), pick(datas)
				switch rng.IntN(14) {
				case 0, 1:
					cfg := InviteConfig{Timeout: time.Duration(rng.IntN(3)) * 30 * time.Second, ExtendedData: data, Push: push(),
						Mode: events.Mode(rng.IntN(2))}
					if rng.IntN(3) == 0 {
						cfg.CallID = fmt.Sprintf(idForm, seed, step)
					}
					if res, err := r.Invite(u, some(), cfg); err == nil {
						ids = append(ids, res.CallID)
					}
				case 2:
					_ = r.Accept(u, callID(), AcceptConfig{ExtendedData: data})
				case 3:
					_ = r.Reject(u, callID(), RejectConfig{ExtendedData: data})
				case 4:
					_, _ = r.Cancel(u, callID(), nil, CancelConfig{ExtendedData: data, Push: push()})
				case 5:
					_, _ = r.CallingInvite(u, callID(), some(), CallingInviteConfig{Timeout: time.Duration(rng.IntN(3)) * 300 * time.Second, Push: push()})
				case 6:
					_, _ = r.Join(u, callID(), JoinConfig{ExtendedData: data})
				case 7:
					_ = r.Quit(u, callID(), QuitConfig{ExtendedData: data})
				case 8:
					_ = r.End(u, callID(), EndConfig{ExtendedData: data})
				case 9:
					r.Login(u, pick([]string{"", "p", "t"}))
				case 10:
					r.Logout(u, pick([]string{"", "p", "t"}))
				case 11:
					r.Heartbeat(u, pick([]string{"", "p", "t"}))
				default:
					clk.Advance(time.Duration(rng.IntN(40_000)) * time.Millisecond)
				}
				want, err := r.legacySnapshot()
				if err != nil {
					t.Fatal(err)
				}
				got, err := r.Snapshot()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s, seed %d, step %d: Snapshot: %v\n%s\nencoding/json wrote\n%s", name, seed, step, err, got, want)
				}
				if plainIDs && cap(got) != len(got) {
					t.Fatalf("%s, seed %d, step %d: Snapshot worked out %d bytes, wrote %d", name, seed, step, cap(got), len(got))
				}
				if step%10 != 0 {
					continue
				}
				o2 := o
				o2.Clock = clock.NewManual(clk.Now())
				back, err := Restore(got, o2)
				if err != nil {
					t.Fatalf("%s, seed %d, step %d: Restore: %v\n%s", name, seed, step, err, got)
				}
				again, _ := back.Snapshot()
				if bytes.Contains(got, []byte(`\ufffd`)) {
					// Invalid UTF-8 in the state was written as U+FFFD, which
					// is what the restored Registry holds: one round later,
					// the bytes are the same.
					got = again
					if back, err = Restore(got, o2); err != nil {
						t.Fatal(err)
					}
					again, _ = back.Snapshot()
				}
				if !bytes.Equal(again, got) {
					t.Fatalf("%s, seed %d, step %d: restored, snapshots as\n%s\nwant\n%s", name, seed, step, again, got)
				}
			}
		}
	}
}

// TestSnapshotFormatInParts: with enough calls, Snapshot writes them in
// parts at once; the bytes are still encoding/json's, and sized exactly
// for IDs that need no escaping.
func TestSnapshotFormatInParts(t *testing.T) {
	for _, escaped := range []bool{false, true} {
		clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		r, err := NewRegistry(Options{Clock: clk, Sink: events.Discard, NotReceivedAfter: time.Second, History: 1})
		if err != nil {
			t.Fatal(err)
		}
		n := 1<<14 + 1000
		for i := range n {
			u, v := fmt.Sprintf("u%d", 2*i), fmt.Sprintf("u%d", 2*i+1)
			if escaped && i%7 == 0 {
				v += "<\u2028>"
			}
			cfg := InviteConfig{Mode: events.Mode(i % 2), ExtendedData: []string{"", "d", `{"k":"v"}`}[i%3]}
			if i%5 == 0 {
				cfg.Push = &events.Push{Title: "t"}
			}
			res, err := r.Invite(u, []string{v}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			switch i % 11 {
			case 0:
				_ = r.Accept(v, res.CallID, AcceptConfig{ExtendedData: "&"})
			case 1:
				r.Login(v, "p")
			case 2:
				_ = r.Reject(v, res.CallID, RejectConfig{})
			}
			if i%1000 == 0 {
				clk.Advance(time.Duration(i) * time.Microsecond)
			}
		}
		want, err := r.legacySnapshot()
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Snapshot()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("escaped %v: Snapshot: %v (%d bytes, encoding/json %d)", escaped, err, len(got), len(want))
		}
		if cap(got) != len(got) {
			t.Fatalf("escaped %v: Snapshot worked out %d bytes, wrote %d", escaped, cap(got), len(got))
		}
	}
}
