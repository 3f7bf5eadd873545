package call_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// presenceOps are the inputs that name a user's device.
var presenceOps = []struct {
	name string
	do   func(r *call.Registry, user, device string) error
}{
	{"login", (*call.Registry).Login},
	{"logout", (*call.Registry).Logout},
	{"heartbeat", (*call.Registry).Heartbeat},
	{"replay", (*call.Registry).Replay},
}

// TestPresenceRefusesBadIDs: Login, Logout, Heartbeat and Replay answer
// ErrInvalidUser for a bad user ID, then ErrInvalidArgument for a bad
// device ID (RULES.md §2, Presence), journal nothing and change nothing.
func TestPresenceRefusesBadIDs(t *testing.T) {
	j := &memJournal{}
	g := newRig(t, t0, j, nil)
	for _, op := range presenceOps {
		for _, c := range []struct {
			user, device string
			want         error
			code         string
		}{
			{"", "phone", call.ErrInvalidUser, "invalid_user"},
			{strings.Repeat("u", 129), "", call.ErrInvalidUser, "invalid_user"},
			{"bad\x00", "bad\u200b", call.ErrInvalidUser, "invalid_user"}, // the user is checked first
			{"bob", "bad\u200b", call.ErrInvalidArgument, "invalid_argument"},
			{"bob", strings.Repeat("d", 129), call.ErrInvalidArgument, "invalid_argument"},
		} {
			err := op.do(g.reg, c.user, c.device)
			var ce *call.Error
			if !errors.Is(err, c.want) || !errors.As(err, &ce) || call.Code(err) != c.code || ce.Op != op.name {
				t.Errorf("%s(%q, %q): %v (code %q), want %v", op.name, c.user, c.device, err, call.Code(err), c.want)
			}
		}
	}
	if len(j.lines) != 0 || len(g.rec.Take()) != 0 || g.reg.Online() != nil {
		t.Fatalf("refused presence changes journaled %d entries, or changed something", len(j.lines))
	}
}

// TestPresenceJournalRefusal: D1 — a presence change the Journal refuses
// returns an error matching ErrJournal and the Journal's error, and the
// device's presence stays as it was: a refused Login leaves it offline, a
// refused Logout online (its caller's call still rings, G7 waits), a
// refused Heartbeat does not move its deadline. Once the Journal works, a
// retry takes effect.
func TestPresenceJournalRefusal(t *testing.T) {
	boom := errors.New("disk full")
	j := &memJournal{}
	g := newRig(t, t0, j, nil)
	reg := g.reg
	mustErr := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, call.ErrJournal) || !errors.Is(err, boom) || call.Code(err) != "journal" {
			t.Fatalf("%s with a refusing Journal: %v", what, err)
		}
	}
	if err := reg.Login("alice", "laptop"); err != nil {
		t.Fatal(err)
	}
	res, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	g.rec.Take()
	n := len(j.lines)

	j.refuse = boom
	mustErr("Login", reg.Login("bob", "phone"))
	if d := reg.Devices("bob"); d != nil {
		t.Fatalf("a refused Login put bob online: %q", d)
	}
	mustErr("Logout", reg.Logout("alice", "laptop"))
	if d := reg.Devices("alice"); !reflect.DeepEqual(d, []string{"laptop"}) {
		t.Fatalf("a refused Logout took alice offline: %q", d)
	}
	if info, ok := reg.Call(res.CallID); !ok || info.Members[1].State != events.Inviting {
		t.Fatalf("a refused presence change touched the call: %+v", info)
	}
	if len(g.rec.Take()) != 0 || len(j.lines) != n {
		t.Fatal("a refused presence change emitted or was journaled")
	}

	j.refuse = nil
	if err := reg.Logout("alice", "laptop"); err != nil { // the host retries
		t.Fatal(err)
	}
	if reg.Len() != 0 || reg.Devices("alice") != nil {
		t.Fatal("the retried Logout did not take alice offline and cancel her call (G7)")
	}
}

// TestHeartbeatJournalRefusal: a refused Heartbeat returns the error and
// does not count: the device lapses at the deadline its last counted
// heartbeat gave it (H5).
func TestHeartbeatJournalRefusal(t *testing.T) {
	boom := errors.New("disk full")
	j := &memJournal{}
	g := newRig(t, t0, j, nil)
	reg, err := call.NewRegistry(call.Options{Clock: g.clk, Sink: g.rec, Journal: j, HeartbeatTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Login("bob", "phone"); err != nil {
		t.Fatal(err)
	}
	g.clk.Advance(5 * time.Second)
	j.refuse = boom
	if err := reg.Heartbeat("bob", "phone"); !errors.Is(err, call.ErrJournal) || !errors.Is(err, boom) {
		t.Fatalf("Heartbeat with a refusing Journal: %v", err)
	}
	j.refuse = nil
	if err := reg.Heartbeat("bob", "nothing"); err != nil { // not online: nothing, and nil
		t.Fatal(err)
	}
	g.clk.Advance(5 * time.Second)
	if d := reg.Devices("bob"); d != nil {
		t.Fatalf("bob's phone is still online at its first deadline: the refused heartbeat counted (%q)", d)
	}
}

// TestReplay: Replay sends a device already online what a fresh Login of
// it would (G8, A7), to that device alone, with no presence change, and
// is journaled; Apply replays it exactly. A Replay with nothing to send
// journals nothing; one of a device not online is ErrNotOnline.
func TestReplay(t *testing.T) {
	j := &memJournal{}
	g := newRig(t, t0, j, nil)
	reg := g.reg
	for _, d := range [][2]string{{"alice", "laptop"}, {"bob", "phone"}, {"bob", "web"}, {"carol", "pc"}} {
		if err := reg.Login(d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	gen, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second, ExtendedData: "g"})
	if err != nil {
		t.Fatal(err)
	}
	adv, err := reg.Invite("carol", []string{"bob", "alice"}, call.InviteConfig{Mode: events.Advanced, Timeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Reject("bob", adv.CallID, call.RejectConfig{}); err != nil {
		t.Fatal(err)
	}
	g.clk.Advance(time.Second)
	before := map[string]call.Info{}
	for _, id := range []string{gen.CallID, adv.CallID} {
		before[id], _ = reg.Call(id)
	}
	g.rec.Take()
	n := len(j.lines)

	if err := reg.Replay("bob", "web"); err != nil {
		t.Fatal(err)
	}
	got := g.rec.Take()
	want := "c1#3 InvitationReceived -> bob@web\nc2#7 UserStateChanged -> bob@web\n"
	if b := briefDevice(got); b != want {
		t.Fatalf("Replay(bob, web) sent\n%swant\n%s", b, want)
	}
	if got[0].Deadline != t0.Add(30*time.Second) || got[0].Data != "g" || got[0].Offline || !got[0].At.Equal(t0.Add(time.Second)) {
		t.Fatalf("the replayed invitation: %+v", got[0])
	}
	for id, info := range before {
		after, _ := reg.Call(id)
		if !reflect.DeepEqual(after, info) {
			t.Fatalf("Replay changed call %s:\n%+v\n%+v", id, info, after)
		}
	}
	if d := reg.Devices("bob"); !reflect.DeepEqual(d, []string{"phone", "web"}) {
		t.Fatalf("Replay changed bob's devices: %q", d)
	}
	es := j.entries(t)
	if len(es) != n+1 || es[n].Op != call.OpReplay || es[n].User != "bob" || es[n].Device != "web" {
		t.Fatalf("Replay's journal entry: %v", es[n:])
	}

	// ErrNotOnline: dave has no record at all; bob has no tablet online.
	if err := reg.Replay("dave", "x"); !errors.Is(err, call.ErrNotOnline) || call.Code(err) != "not_online" {
		t.Fatalf("Replay of a device not online: %v", err)
	}
	if err := reg.Replay("bob", "tablet"); !errors.Is(err, call.ErrNotOnline) {
		t.Fatalf("Replay of bob's device that is not online: %v", err)
	}
	if _, err := reg.Cancel("alice", gen.CallID, nil, call.CancelConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := reg.End("carol", adv.CallID, call.EndConfig{}); err != nil {
		t.Fatal(err)
	}
	g.rec.Take()
	n = len(j.lines)
	if err := reg.Replay("carol", "pc"); err != nil || len(j.lines) != n || len(g.rec.Take()) != 0 {
		t.Fatalf("a Replay with nothing to send: %v, %d entries journaled", err, len(j.lines)-n)
	}
}

// briefDevice lists events one a line as "call#seq Kind -> user@device".
func briefDevice(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.CallID + "#" + strconv.FormatUint(e.Seq, 10) + " " + e.Kind.String() + " -> " + e.To + "@" + e.ToDevice + "\n")
	}
	return b.String()
}
