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

// G10, Options.NewID: with no NewID, call IDs are random (at least 96
// bits, here 22 URL-safe base64 characters: 128), unique, and valid IDs.
func TestDefaultCallIDs(t *testing.T) {
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0)})
	if err != nil {
		t.Fatal(err)
	}
	const urlSafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	seen := map[string]bool{}
	for range 2000 {
		res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{})
		if err != nil {
			t.Fatal(err)
		}
		id := res.CallID
		if len(id) < 16 || strings.Trim(id, urlSafe) != "" {
			t.Fatalf("call ID %q: want at least 16 URL-safe characters (96 bits)", id)
		}
		if seen[id] {
			t.Fatalf("call ID %q made twice", id)
		}
		seen[id] = true
		if _, err := r.Cancel("alice", id, nil, call.CancelConfig{}); err != nil {
			t.Fatal(err)
		}
	}
}

// An ID a host's NewID makes must follow the user-ID rules: an invalid one
// fails the Invite with ErrInvalidCallID, changing and emitting nothing.
func TestHostNewIDMustBeValid(t *testing.T) {
	for _, bad := range []string{"", "a\x00", strings.Repeat("x", 129)} {
		rec := &events.Recorder{}
		r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: rec, NewID: func() string { return bad }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute}); !errors.Is(err, call.ErrInvalidCallID) {
			t.Fatalf("NewID made %q: %v, want ErrInvalidCallID", bad, err)
		}
		if r.Len() != 0 || len(rec.Take()) != 0 {
			t.Fatalf("NewID made %q: the refused Invite changed or emitted something", bad)
		}
	}
}
