package call_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// D2: Restore refuses a well-formed snapshot whose state the rules cannot
// reach, with ErrInvalidArgument and a message naming what is wrong, and
// accepts every state they can: each case edits a real snapshot into one
// impossible state.

// snapState is a Registry state to snapshot, with the Options it is made
// and restored with.
type snapState struct {
	opts  call.Options
	setup func(t *testing.T, r *call.Registry, clk *clock.Manual)
}

var snapStates = map[string]snapState{
	// One general call: alice rings bob and carol (90s).
	"general": {setup: func(t *testing.T, r *call.Registry, _ *clock.Manual) {
		mustInvite(t, r, "alice", []string{"bob", "carol"}, call.InviteConfig{})
	}},
	// One advanced call: bob accepted, and 30s later rang carol with a
	// push of his own and MaxTimeout, so that her deadline is later than
	// the call's timeout after its creation (A2), and alice quit.
	"advanced": {setup: func(t *testing.T, r *call.Registry, clk *clock.Manual) {
		res := mustInvite(t, r, "alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced})
		if err := r.Accept("bob", res.CallID, call.AcceptConfig{}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(30 * time.Second)
		if _, err := r.CallingInvite("bob", res.CallID, []string{"carol"}, call.CallingInviteConfig{
			Timeout: call.DefaultMaxTimeout, Push: &events.Push{Title: "bob calls"}}); err != nil {
			t.Fatal(err)
		}
		if err := r.Quit("alice", res.CallID, call.QuitConfig{}); err != nil {
			t.Fatal(err)
		}
	}},
	// An ended call in alice's and bob's histories, and a live one.
	"history": {opts: call.Options{History: 5}, setup: func(t *testing.T, r *call.Registry, clk *clock.Manual) {
		res := mustInvite(t, r, "alice", []string{"bob"}, call.InviteConfig{})
		clk.Advance(time.Second)
		if err := r.Reject("bob", res.CallID, call.RejectConfig{}); err != nil {
			t.Fatal(err)
		}
		mustInvite(t, r, "carol", []string{"dave"}, call.InviteConfig{})
	}},
	// bob online with a heartbeat, in a call.
	"heartbeat": {opts: call.Options{HeartbeatTimeout: time.Minute}, setup: func(t *testing.T, r *call.Registry, _ *clock.Manual) {
		r.Login("bob", "phone")
		mustInvite(t, r, "alice", []string{"bob"}, call.InviteConfig{})
	}},
	// An invite with a host-chosen CallID, dave refused by Admit (H4, H7).
	"retry": {opts: call.Options{Admit: func(_, invitee string) error {
		if invitee == "dave" {
			return errors.New("blocked")
		}
		return nil
	}}, setup: func(t *testing.T, r *call.Registry, _ *clock.Manual) {
		mustInvite(t, r, "alice", []string{"bob", "dave"}, call.InviteConfig{CallID: "host1"})
	}},
	// bob, rung by alice, calls her back with a host-chosen CallID: the
	// invite is merged into her call (H3, H4).
	"merged": {opts: call.Options{Glare: call.GlareMerge}, setup: func(t *testing.T, r *call.Registry, _ *clock.Manual) {
		mustInvite(t, r, "alice", []string{"bob", "carol"}, call.InviteConfig{})
		if res := mustInvite(t, r, "bob", []string{"alice"}, call.InviteConfig{CallID: "m1"}); !res.Merged {
			t.Fatalf("not merged: %+v", res)
		}
	}},
	// bob offline: his not-received check is pending (H6).
	"checks": {opts: call.Options{NotReceivedAfter: 5 * time.Second}, setup: func(t *testing.T, r *call.Registry, _ *clock.Manual) {
		mustInvite(t, r, "alice", []string{"bob"}, call.InviteConfig{})
	}},
}

func mustInvite(t *testing.T, r *call.Registry, inviter string, invitees []string, cfg call.InviteConfig) call.InviteResult {
	t.Helper()
	res, err := r.Invite(inviter, invitees, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// stateSnapshot makes the named state and returns its snapshot.
func stateSnapshot(t *testing.T, name string) []byte {
	t.Helper()
	st := snapStates[name]
	o := st.opts
	clk := clock.NewManual(t0)
	o.Clock, o.NewID = clk, counterIDs()
	r, err := call.NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	st.setup(t, r, clk)
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// restoreOpts returns the Options to restore the named state with.
func restoreOpts(name string) call.Options {
	o := snapStates[name].opts
	o.Clock = clock.NewManual(t0)
	return o
}

// editSnapshot decodes snap, lets edit change it, and encodes it again with
// the version first (D2). Numbers stay exact.
func editSnapshot(t *testing.T, snap []byte, edit func(s map[string]any)) []byte {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(snap))
	d.UseNumber()
	var s map[string]any
	if err := d.Decode(&s); err != nil {
		t.Fatal(err)
	}
	edit(s)
	version := s["callsig_snapshot"]
	delete(s, "callsig_snapshot")
	rest, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := json.Marshal(version)
	return append([]byte(`{"callsig_snapshot":`+string(v)+","), rest[1:]...)
}

// at walks s along path (object keys and array indexes) to an object.
func at(s map[string]any, path ...any) map[string]any {
	var v any = s
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = v.(map[string]any)[p]
		case int:
			v = v.([]any)[p]
		}
	}
	return v.(map[string]any)
}

func ts(t time.Time) string { return t.Format(time.RFC3339Nano) }

const maxU64 = json.Number("18446744073709551615")

func TestRestoreRefusesUnreachableStates(t *testing.T) {
	member := func(call, i int) []any { return []any{"calls", call, "members", i} }
	entry := []any{"history", 0, "entries", 0, "call"}
	cases := []struct {
		name, state string
		edit        func(s map[string]any)
		want        string // in the error's message
	}{
		{"deadline before the call", "general", func(s map[string]any) {
			at(s, member(0, 1)...)["Deadline"] = ts(t0.Add(-time.Second))
		}, `member 1 ("bob"): deadline`},
		{"deadline years after the call", "general", func(s map[string]any) {
			at(s, member(0, 1)...)["Deadline"] = "3000-01-01T00:00:00Z"
		}, `member 1 ("bob"): deadline`},
		{"general deadline not the call's", "general", func(s map[string]any) {
			at(s, member(0, 2)...)["Deadline"] = ts(t0.Add(time.Minute))
		}, `member 2 ("carol"): deadline`},
		{"advanced deadline past MaxTimeout", "advanced", func(s map[string]any) {
			at(s, member(0, 2)...)["Deadline"] = ts(t0.Add(30*time.Second + call.DefaultMaxTimeout + time.Nanosecond))
		}, `member 2 ("carol"): deadline`},
		{"advanced deadline under MinTimeout", "advanced", func(s map[string]any) {
			at(s, member(0, 2)...)["Deadline"] = ts(t0.Add(time.Second - time.Nanosecond))
		}, `member 2 ("carol"): deadline`},
		{"caller rejected", "general", func(s map[string]any) {
			at(s, member(0, 0)...)["State"] = "Rejected"
		}, `member 0 ("alice"): the caller is Rejected`},
		{"caller timed out", "advanced", func(s map[string]any) {
			at(s, member(0, 0)...)["State"] = "Timeout"
		}, `member 0 ("alice"): the caller is Timeout`},
		{"inviter no member", "general", func(s map[string]any) {
			at(s, member(0, 1)...)["Inviter"] = "mallory"
		}, `member 1 ("bob"): inviter "mallory"`},
		{"inviter itself", "advanced", func(s map[string]any) {
			at(s, member(0, 2)...)["Inviter"] = "carol"
		}, `member 2 ("carol"): inviter "carol"`},
		{"general inviter not the caller", "general", func(s map[string]any) {
			at(s, member(0, 2)...)["Inviter"] = "bob"
		}, `member 2 ("carol"): inviter "bob"`},
		{"call created after the last reading", "general", func(s map[string]any) {
			c := at(s, "calls", 0)
			c["created"] = ts(t0.Add(time.Hour))
			at(c, "members", 1)["Deadline"] = ts(t0.Add(time.Hour + 90*time.Second))
			at(c, "members", 2)["Deadline"] = ts(t0.Add(time.Hour + 90*time.Second))
		}, "after the last reading"},
		{"call seq at its limit", "general", func(s map[string]any) {
			at(s, "calls", 0)["seq"] = maxU64
		}, "seq at its limit"},
		{"order at its limit", "general", func(s map[string]any) {
			s["order"] = maxU64
		}, "order"},
		{"beat_seq at its limit", "heartbeat", func(s map[string]any) {
			s["beat_seq"] = maxU64
		}, "beat_seq"},
		{"heartbeat after beat_seq", "heartbeat", func(s map[string]any) {
			at(s, "users", 0, "beats", 0)["order"] = json.Number("2")
		}, `user "bob": device "phone": heartbeat order 2`},
		{"history seq at its limit", "history", func(s map[string]any) {
			at(s, "history", 0)["seq"] = maxU64
		}, `history of "alice": seq at its limit`},
		{"history caller invalid", "history", func(s map[string]any) {
			e := []any{"history", 1, "entries", 0, "call"} // bob's
			at(s, e...)["Caller"] = ""
			at(s, append(e, "Members", 0)...)["User"] = ""
			at(s, append(e, "Members", 1)...)["Inviter"] = ""
		}, `history of "bob": entry 1 (call "c1"): member 0 (""): invalid`},
		{"history member invalid", "history", func(s map[string]any) {
			at(s, append(entry, "Members", 1)...)["User"] = "bad\x00id"
		}, `history of "alice": entry 1 (call "c1"): member 1`},
		{"history data too large", "history", func(s map[string]any) {
			at(s, entry...)["ExtendedData"] = strings.Repeat("x", call.DefaultMaxDataLen+1)
		}, `history of "alice": entry 1 (call "c1"): extended data of 2049 bytes`},
		{"history member data too large", "history", func(s map[string]any) {
			at(s, append(entry, "Members", 1)...)["Data"] = strings.Repeat("x", 1<<20)
		}, `member 1 ("bob"): data of 1048576 bytes`},
		{"history member pending", "history", func(s map[string]any) {
			m := at(s, append(entry, "Members", 1)...)
			m["State"], m["Deadline"] = "Received", ts(t0.Add(90*time.Second))
		}, `member 1 ("bob"): Received with deadline`},
		{"history ended before created", "history", func(s map[string]any) {
			at(s, entry...)["EndedAt"] = ts(t0.Add(-time.Second))
		}, "ended at"},
		{"history ended after the last reading", "history", func(s map[string]any) {
			at(s, entry...)["EndedAt"] = ts(t0.Add(time.Hour))
		}, "ended at"},
		{"history of a stranger", "history", func(s map[string]any) {
			at(s, "history", 0)["user"] = "aaron"
		}, `history of "aaron": entry 1 (call "c1"): the user is no member`},
		{"history timeout out of range", "history", func(s map[string]any) {
			at(s, entry...)["Timeout"] = json.Number("0")
		}, "timeout 0s"},
		{"merged invitee no member", "merged", func(s map[string]any) {
			at(s, "calls", 0, "merged", 0)["invitee"] = "mallory"
		}, `merged invite "m1"`},
		{"merged deadline out of range", "merged", func(s map[string]any) {
			at(s, "calls", 0, "merged", 0)["deadline"] = "3000-01-01T00:00:00Z"
		}, `merged invite "m1": deadline`},
		{"retry invitee invalid", "retry", func(s map[string]any) {
			at(s, "calls", 0, "retry")["invitees"].([]any)[0] = ""
		}, `retry record: invitee ""`},
		{"retry failure of no invitee", "retry", func(s map[string]any) {
			at(s, "calls", 0, "retry", "failed", 0)["user"] = "erin"
		}, `retry record: failure of "erin"`},
		{"retry invitee neither rung nor refused", "retry", func(s map[string]any) {
			r := at(s, "calls", 0, "retry")
			r["invitees"] = append(r["invitees"].([]any), "erin")
		}, `retry record: invitee "erin"`},
		{"check before the call", "checks", func(s map[string]any) {
			at(s, "calls", 0)["checks"].([]any)[1] = ts(t0)
		}, `member 1 ("bob"): not-received check`},
		{"push for the caller", "advanced", func(s map[string]any) {
			at(s, "calls", 0, "pushes", 0)["none"] = true
		}, "invalid push for member 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := editSnapshot(t, stateSnapshot(t, tc.state), tc.edit)
			_, err := call.Restore(b, restoreOpts(tc.state))
			if !errors.Is(err, call.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore: %v\nwant ErrInvalidArgument naming %q; snapshot:\n%s", err, tc.want, b)
			}
		})
	}
}

// TestRestoreAcceptsReachableStates: every state the cases above start
// from restores, and snapshots back to the same bytes (D2) — the advanced
// one with a deadline later than the call's timeout after its creation, a
// caller who quit and a member's own push.
func TestRestoreAcceptsReachableStates(t *testing.T) {
	for name := range snapStates {
		t.Run(name, func(t *testing.T) {
			snap := stateSnapshot(t, name)
			r, err := call.Restore(snap, restoreOpts(name))
			if err != nil {
				t.Fatalf("Restore: %v\n%s", err, snap)
			}
			again, err := r.Snapshot()
			if err != nil || !bytes.Equal(again, snap) {
				t.Fatalf("snapshot again: %v\n%s\nwant\n%s", err, again, snap)
			}
		})
	}
}

// TestRestoreNeedsTheVersionFirst: D2 — a snapshot is a JSON object whose
// first member is "callsig_snapshot"; one with the version elsewhere is
// refused. Whitespace is no member: an indented snapshot restores.
func TestRestoreNeedsTheVersionFirst(t *testing.T) {
	snap := stateSnapshot(t, "general")
	moved := strings.Replace(string(snap), `"callsig_snapshot":1,`, ``, 1)
	moved = strings.Replace(moved, `"order":1,`, `"order":1,"callsig_snapshot":1,`, 1)
	if moved == string(snap) || !strings.Contains(moved, `"callsig_snapshot":1`) {
		t.Fatalf("edit failed: %s", moved)
	}
	for name, b := range map[string]string{
		"version after order":  moved,
		"version in an array":  "[" + string(snap) + "]",
		"repeated, later 2":    strings.Replace(string(snap), `"order":1,`, `"order":1,"callsig_snapshot":2,`, 1),
		"version not a number": strings.Replace(string(snap), `"callsig_snapshot":1`, `"callsig_snapshot":"1"`, 1),
	} {
		if _, err := call.Restore([]byte(b), restoreOpts("general")); !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("%s: Restore: %v, want ErrInvalidArgument", name, err)
		}
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, snap, "", "\t"); err != nil {
		t.Fatal(err)
	}
	r, err := call.Restore(indented.Bytes(), restoreOpts("general"))
	if err != nil {
		t.Fatalf("indented: %v", err)
	}
	if again, _ := r.Snapshot(); !bytes.Equal(again, snap) {
		t.Fatalf("indented: snapshot again:\n%s\nwant\n%s", again, snap)
	}
}
