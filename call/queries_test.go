package call_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestPresenceQueries: Devices (login order), Online (users by ID) and
// LiveCalls (oldest first) report the state the last input left, and read
// no clock (D4).
func TestPresenceQueries(t *testing.T) {
	g := newRig(t, t0, nil, nil)
	reg, err := call.NewRegistry(call.Options{Clock: g.clk, Sink: g.rec, NewID: counterIDs(), HeartbeatTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range [][2]string{{"zoe", "z"}, {"bob", "web"}, {"alice", "laptop"}, {"bob", "phone"}, {"bob", ""}} {
		if err := reg.Login(d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Logout("bob", "phone"); err != nil {
		t.Fatal(err)
	}
	want := []call.OnlineDevice{{"alice", "laptop"}, {"bob", "web"}, {"bob", ""}, {"zoe", "z"}}
	if got := reg.Online(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Online: %v, want %v", got, want)
	}
	if got := reg.Devices("bob"); !reflect.DeepEqual(got, []string{"web", ""}) {
		t.Fatalf("Devices(bob): %q", got)
	}
	if reg.Devices("carol") != nil || reg.Devices("") != nil || reg.LiveCalls("carol") != nil || reg.LiveCalls("") != nil {
		t.Fatal("a user that is nowhere has devices or calls")
	}

	c1, _ := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second})
	c2, _ := reg.Invite("carol", []string{"dave"}, call.InviteConfig{Timeout: 20 * time.Second, Mode: events.Advanced})
	c3, _ := reg.Invite("dave", []string{"bob", "alice"}, call.InviteConfig{Timeout: 30 * time.Second})
	if got := reg.LiveCalls("bob"); !reflect.DeepEqual(got, []string{c1.CallID, c3.CallID}) {
		t.Fatalf("LiveCalls(bob): %q", got)
	}
	if got := reg.LiveCalls("dave"); !reflect.DeepEqual(got, []string{c2.CallID, c3.CallID}) {
		t.Fatalf("LiveCalls(dave), oldest first: %q", got)
	}

	// D4: the queries read no clock.
	cc := &countingClock{Manual: g.clk}
	reg3, err := call.NewRegistry(call.Options{Clock: cc, HeartbeatTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg3.Login("erin", "e"); err != nil {
		t.Fatal(err)
	}
	n := cc.nows
	_, _, _ = reg3.Devices("erin"), reg3.Online(), reg3.LiveCalls("erin")
	if cc.nows != n {
		t.Fatalf("the queries read the clock %d times", cc.nows-n)
	}
}

// countingClock counts the readings of a clock.Manual.
type countingClock struct {
	*clock.Manual
	nows int
}

func (c *countingClock) Now() time.Time { c.nows++; return c.Manual.Now() }
