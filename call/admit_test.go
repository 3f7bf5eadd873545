package call_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// many returns n distinct user IDs.
func many(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d", i)
	}
	return out
}

// admitRig is a Registry whose Admit counts its calls, with two live calls:
// c1, advanced, alice's, bob Accepted and carol pending; c2, general,
// erin's, frank pending. MaxInvitees is 3 and MaxDataLen 16.
func admitRig(t *testing.T) (*call.Registry, *events.Recorder, *int) {
	t.Helper()
	asked := new(int)
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: rec, NewID: counterIDs(), MaxInvitees: 3, MaxDataLen: 16,
		Admit: func(string, string) error { *asked++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := r.Accept("bob", "c1", call.AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("erin", []string{"frank"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	*asked = 0
	return r, rec, asked
}

// TestAdmitOnlyAfterStatelessChecks: H7 — Admit is asked only about an
// Invite or CallingInvite that passes every check needing no state (the
// acting user's ID; the list: empty, IDs, self, duplicates, count; the
// timeout, data, push, mode and CallID). Each malformed request below is
// refused with the error RULES.md §2's order makes win — the message is the
// one it had before Admit was kept out of it — changes nothing, emits
// nothing and asks Admit nothing. For CallingInvite the checks of the call
// (it exists, the user is a member, the call is advanced, the user is
// Accepted) and of the list against the call's members still win over the
// stateless ones that follow them.
func TestAdmitOnlyAfterStatelessChecks(t *testing.T) {
	big := strings.Repeat("x", 17)
	invites := []struct {
		name    string
		inviter string
		list    []string
		cfg     call.InviteConfig
		want    error
		msg     string
	}{
		{"invalid inviter", "", []string{"bob"}, call.InviteConfig{}, call.ErrInvalidUser, `callsig: invite by "": invalid user ID`},
		{"invalid inviter, 10,000 invitees", "", many(10000), call.InviteConfig{}, call.ErrInvalidUser, `callsig: invite by "": invalid user ID`},
		{"no invitees", "alice", nil, call.InviteConfig{}, call.ErrNoInvitees, `callsig: invite by "alice": no invitees`},
		{"empty invitee ID", "alice", []string{"bob", ""}, call.InviteConfig{}, call.ErrInvalidUser, `callsig: invite by "alice": invalid user ID: invalid invitee ID ""`},
		{"format character", "alice", []string{"bob", "bo\u200bb"}, call.InviteConfig{}, call.ErrInvalidUser, "callsig: invite by \"alice\": invalid user ID: invalid invitee ID \"bo\\u200bb\""},
		{"self", "alice", []string{"bob", "alice"}, call.InviteConfig{}, call.ErrSelfInvite, `callsig: invite by "alice": cannot invite oneself`},
		{"duplicate", "alice", []string{"bob", "carol", "bob"}, call.InviteConfig{}, call.ErrDuplicateInvitee, `callsig: invite by "alice": duplicate invitee: "bob" is listed twice`},
		{"four invitees", "alice", many(4), call.InviteConfig{}, call.ErrTooManyInvitees, `callsig: invite by "alice": too many invitees: 4 invitees, at most 3`},
		{"10,000 invitees", "alice", many(10000), call.InviteConfig{}, call.ErrTooManyInvitees, `callsig: invite by "alice": too many invitees: 10000 invitees, at most 3`},
		{"timeout too short", "alice", []string{"bob"}, call.InviteConfig{Timeout: 500 * time.Millisecond}, call.ErrInvalidTimeout, `callsig: invite by "alice": invalid timeout: 500ms is outside [1s, 10m0s]`},
		{"timeout negative", "alice", []string{"bob"}, call.InviteConfig{Timeout: -time.Second}, call.ErrInvalidTimeout, `callsig: invite by "alice": invalid timeout: -1s is outside [1s, 10m0s]`},
		{"timeout too long", "alice", []string{"bob"}, call.InviteConfig{Timeout: 601 * time.Second}, call.ErrInvalidTimeout, `callsig: invite by "alice": invalid timeout: 10m1s is outside [1s, 10m0s]`},
		{"data", "alice", []string{"bob"}, call.InviteConfig{ExtendedData: big}, call.ErrDataTooLarge, `callsig: invite by "alice": extended data too large: 17 bytes, at most 16`},
		{"push", "alice", []string{"bob"}, call.InviteConfig{Push: &events.Push{Title: big}}, call.ErrInvalidArgument, `callsig: invite by "alice": invalid argument: push fields over 16 bytes together`},
		{"mode", "alice", []string{"bob"}, call.InviteConfig{Mode: 7}, call.ErrInvalidArgument, `callsig: invite by "alice": invalid argument: unknown mode Mode(7)`},
		{"call ID", "alice", []string{"bob"}, call.InviteConfig{CallID: "c\x00"}, call.ErrInvalidCallID, "callsig: invite call \"c\\x00\" by \"alice\": invalid call ID"},
		// Two faults: the earlier check in RULES.md §2's order wins.
		{"invalid inviter before the list", "", nil, call.InviteConfig{Timeout: time.Millisecond}, call.ErrInvalidUser, `callsig: invite by "": invalid user ID`},
		{"duplicate before timeout", "alice", []string{"bob", "bob"}, call.InviteConfig{Timeout: time.Millisecond}, call.ErrDuplicateInvitee, `callsig: invite by "alice": duplicate invitee: "bob" is listed twice`},
		{"count before data", "alice", many(4), call.InviteConfig{ExtendedData: big}, call.ErrTooManyInvitees, `callsig: invite by "alice": too many invitees: 4 invitees, at most 3`},
		{"timeout before data", "alice", []string{"bob"}, call.InviteConfig{Timeout: time.Millisecond, ExtendedData: big}, call.ErrInvalidTimeout, `callsig: invite by "alice": invalid timeout: 1ms is outside [1s, 10m0s]`},
		{"data before push", "alice", []string{"bob"}, call.InviteConfig{ExtendedData: big, Push: &events.Push{Payload: big}}, call.ErrDataTooLarge, `callsig: invite by "alice": extended data too large: 17 bytes, at most 16`},
		{"push before mode", "alice", []string{"bob"}, call.InviteConfig{Push: &events.Push{Payload: big}, Mode: 7}, call.ErrInvalidArgument, `callsig: invite by "alice": invalid argument: push fields over 16 bytes together`},
		{"mode before bad call ID", "alice", []string{"bob"}, call.InviteConfig{Mode: 9, CallID: "c\x00"}, call.ErrInvalidArgument, "callsig: invite call \"c\\x00\" by \"alice\": invalid argument: unknown mode Mode(9)"},
	}
	callingInvites := []struct {
		name         string
		user, callID string
		list         []string
		cfg          call.CallingInviteConfig
		want         error
		msg          string
	}{
		{"invalid user", "", "c1", []string{"dave"}, call.CallingInviteConfig{}, call.ErrInvalidUser, `callsig: calling invite call "c1" by "": invalid user ID`},
		{"invalid user, 10,000 invitees", "", "c1", many(10000), call.CallingInviteConfig{}, call.ErrInvalidUser, `callsig: calling invite call "c1" by "": invalid user ID`},
		{"invalid call ID", "bob", "c\x00", []string{"dave"}, call.CallingInviteConfig{}, call.ErrCallNotFound, "callsig: calling invite call \"c\\x00\" by \"bob\": call not found"},
		{"empty call ID", "bob", "", []string{"dave"}, call.CallingInviteConfig{}, call.ErrCallNotFound, `callsig: calling invite call "" by "bob": call not found`},
		{"no such call, empty list", "bob", "nope", nil, call.CallingInviteConfig{}, call.ErrCallNotFound, `callsig: calling invite call "nope" by "bob": call not found`},
		{"no such call, 10,000 invitees", "bob", "nope", many(10000), call.CallingInviteConfig{}, call.ErrCallNotFound, `callsig: calling invite call "nope" by "bob": call not found`},
		{"no member, bad timeout", "mallory", "c1", []string{"dave"}, call.CallingInviteConfig{Timeout: time.Millisecond}, call.ErrCallNotFound, `callsig: calling invite call "c1" by "mallory": call not found`},
		{"general call, 10,000 invitees", "frank", "c2", many(10000), call.CallingInviteConfig{}, call.ErrWrongMode, `callsig: calling invite call "c2" by "frank": wrong call mode: the call is in general mode`},
		{"pending user, bad push", "carol", "c1", []string{"dave"}, call.CallingInviteConfig{Push: &events.Push{Content: big}}, call.ErrNotAccepted, `callsig: calling invite call "c1" by "carol": user not in the call: only a member in the call may invite more`},
		{"no invitees", "bob", "c1", nil, call.CallingInviteConfig{}, call.ErrNoInvitees, `callsig: calling invite call "c1" by "bob": no invitees`},
		{"empty invitee ID", "bob", "c1", []string{"dave", ""}, call.CallingInviteConfig{}, call.ErrInvalidUser, `callsig: calling invite call "c1" by "bob": invalid user ID: invalid invitee ID ""`},
		{"self", "bob", "c1", []string{"dave", "bob"}, call.CallingInviteConfig{}, call.ErrSelfInvite, `callsig: calling invite call "c1" by "bob": cannot invite oneself`},
		{"duplicate", "bob", "c1", []string{"dave", "gus", "dave"}, call.CallingInviteConfig{}, call.ErrDuplicateInvitee, `callsig: calling invite call "c1" by "bob": duplicate invitee: "dave" is listed twice`},
		{"duplicate before the caller", "bob", "c1", []string{"alice", "dave", "dave"}, call.CallingInviteConfig{}, call.ErrDuplicateInvitee, `callsig: calling invite call "c1" by "bob": duplicate invitee: "dave" is listed twice`},
		{"the caller, bad timeout", "bob", "c1", []string{"alice"}, call.CallingInviteConfig{Timeout: time.Millisecond}, call.ErrDuplicateInvitee, `callsig: calling invite call "c1" by "bob": duplicate invitee: "alice" is the caller (who comes back with Join)`},
		{"a pending member, bad push", "bob", "c1", []string{"carol"}, call.CallingInviteConfig{Push: &events.Push{Title: big}}, call.ErrDuplicateInvitee, `callsig: calling invite call "c1" by "bob": duplicate invitee: "carol" is already Inviting`},
		{"the caller before the count", "bob", "c1", []string{"dave", "alice", "gus", "hal"}, call.CallingInviteConfig{}, call.ErrDuplicateInvitee, `callsig: calling invite call "c1" by "bob": duplicate invitee: "alice" is the caller (who comes back with Join)`},
		{"four invitees", "bob", "c1", many(4), call.CallingInviteConfig{}, call.ErrTooManyInvitees, `callsig: calling invite call "c1" by "bob": too many invitees: 6 invitees, at most 3`},
		{"10,000 invitees", "bob", "c1", many(10000), call.CallingInviteConfig{}, call.ErrTooManyInvitees, `callsig: calling invite call "c1" by "bob": too many invitees: 10002 invitees, at most 3`},
		{"timeout too short", "bob", "c1", []string{"dave"}, call.CallingInviteConfig{Timeout: 500 * time.Millisecond}, call.ErrInvalidTimeout, `callsig: calling invite call "c1" by "bob": invalid timeout: 500ms is outside [1s, 10m0s]`},
		{"timeout too long", "bob", "c1", []string{"dave"}, call.CallingInviteConfig{Timeout: 601 * time.Second}, call.ErrInvalidTimeout, `callsig: calling invite call "c1" by "bob": invalid timeout: 10m1s is outside [1s, 10m0s]`},
		{"push", "bob", "c1", []string{"dave"}, call.CallingInviteConfig{Push: &events.Push{Title: big}}, call.ErrInvalidArgument, `callsig: calling invite call "c1" by "bob": invalid argument: push fields over 16 bytes together`},
		{"timeout before push", "bob", "c1", []string{"dave"}, call.CallingInviteConfig{Timeout: -time.Second, Push: &events.Push{Title: big}}, call.ErrInvalidTimeout, `callsig: calling invite call "c1" by "bob": invalid timeout: -1s is outside [1s, 10m0s]`},
		{"duplicate before timeout", "bob", "c1", []string{"dave", "dave"}, call.CallingInviteConfig{Timeout: -time.Second}, call.ErrDuplicateInvitee, `callsig: calling invite call "c1" by "bob": duplicate invitee: "dave" is listed twice`},
	}
	r, rec, asked := admitRig(t)
	for _, c := range invites {
		_, err := r.Invite(c.inviter, c.list, c.cfg)
		if !errors.Is(err, c.want) || err.Error() != c.msg {
			t.Errorf("Invite, %s: %v, want %v:\n%q", c.name, err, c.want, c.msg)
		}
		if evs := rec.Take(); *asked != 0 || r.Len() != 2 || len(evs) != 0 {
			t.Errorf("Invite, %s: Admit asked %d times, %d calls, %d events; want 0, 2, 0", c.name, *asked, r.Len(), len(evs))
		}
		*asked = 0
	}
	for _, c := range callingInvites {
		_, err := r.CallingInvite(c.user, c.callID, c.list, c.cfg)
		if !errors.Is(err, c.want) || err.Error() != c.msg {
			t.Errorf("CallingInvite, %s: %v, want %v:\n%q", c.name, err, c.want, c.msg)
		}
		if evs := rec.Take(); *asked != 0 || r.Len() != 2 || len(evs) != 0 {
			t.Errorf("CallingInvite, %s: Admit asked %d times, %d calls, %d events; want 0, 2, 0", c.name, *asked, r.Len(), len(evs))
		}
		*asked = 0
	}
	// Well-formed requests are asked about, each invitee once.
	if _, err := r.Invite("alice", []string{"dave", "gus"}, call.InviteConfig{}); err != nil || *asked != 2 {
		t.Fatalf("a well-formed Invite: %v, Admit asked %d times, want 2", err, *asked)
	}
	*asked = 0
	if _, err := r.CallingInvite("bob", "c1", []string{"hal"}, call.CallingInviteConfig{}); err != nil || *asked != 1 {
		t.Fatalf("a well-formed CallingInvite: %v, Admit asked %d times, want 1", err, *asked)
	}
}
