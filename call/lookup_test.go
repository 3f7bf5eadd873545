package call_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Each command on a call checks its user's ID before it looks the call up
// (RULES.md §2's order): a malformed user ID is ErrInvalidUser whether or
// not the call exists, whichever member the ID resembles, and a well-formed
// one that is no member is ErrCallNotFound (G10).
func TestLookupErrorPrecedence(t *testing.T) {
	bad := []string{"", "bad\x00id", "zero\u200bwidth", "\xff\xfe", strings.Repeat("x", 129), "bob\x00"}
	commands := map[string]func(r *call.Registry, user, callID string) error{
		"accept": func(r *call.Registry, u, id string) error { return r.Accept(u, id, call.AcceptConfig{}) },
		"reject": func(r *call.Registry, u, id string) error { return r.Reject(u, id, call.RejectConfig{}) },
		"cancel": func(r *call.Registry, u, id string) error {
			_, err := r.Cancel(u, id, nil, call.CancelConfig{})
			return err
		},
		"join": func(r *call.Registry, u, id string) error { _, err := r.Join(u, id, call.JoinConfig{}); return err },
		"quit": func(r *call.Registry, u, id string) error { return r.Quit(u, id, call.QuitConfig{}) },
		"end":  func(r *call.Registry, u, id string) error { return r.End(u, id, call.EndConfig{}) },
		"callinginvite": func(r *call.Registry, u, id string) error {
			_, err := r.CallingInvite(u, id, []string{"dave"}, call.CallingInviteConfig{})
			return err
		},
	}
	for name, cmd := range commands {
		for _, mode := range []events.Mode{events.General, events.Advanced} {
			r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: events.Discard})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{res.CallID, "no-such-call", ""} {
				for _, u := range bad {
					if err := cmd(r, u, id); !errors.Is(err, call.ErrInvalidUser) {
						t.Errorf("%s %s by %q on %q: %v, want ErrInvalidUser", mode, name, u, id, err)
					}
				}
				if err := cmd(r, "carol", id); !errors.Is(err, call.ErrCallNotFound) {
					t.Errorf("%s %s by a stranger on %q: %v, want ErrCallNotFound", mode, name, id, err)
				}
			}
			if r.Len() != 1 {
				t.Fatalf("%s %s: the refused commands changed the calls: Len %d", mode, name, r.Len())
			}
		}
	}
}
