package call

import (
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// B3 is a matter of size classes: a pending one-invitee call is one
// allocation of callOf2, and the allocator rounds it up to its class. The
// record is laid out to fill the 320-byte class exactly, so a field added
// anywhere moves every such call to the 352-byte class (B3 ≤ 400 B per call
// would then fail). A nine-invitee call must stay within its class too.
func TestCallRecordSize(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"callRecord", unsafe.Sizeof(callRecord{}), 96},
		{"memberLink", unsafe.Sizeof(memberLink{}), 32},
		{"callOf2", unsafe.Sizeof(callOf2{}), 320},
		{"callOf10", unsafe.Sizeof(callOf10{}), 1280},
		{"user", unsafe.Sizeof(user{}), 64}, // the record of an online user
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, at most %d (B3)", c.name, c.size, c.max)
		}
	}
}

// An advanced call that grows past the room of its record (CallingInvite,
// A2) moves its members and links to new arrays, more than once on the way
// to 101 members: every user's list of calls must follow, so that presence
// (G8's replay on Login, G7 on the caller's Logout) still finds the call,
// and the members' order and states survive each move.
func TestCallGrowsPastItsRoom(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := &events.Recorder{}
	r, err := NewRegistry(Options{Clock: clk, Sink: rec, MaxInvitees: 100})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Invite("host", []string{"u1"}, InviteConfig{Mode: events.Advanced, ExtendedData: "d"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.CallID
	for n := 2; n <= 100; n += 7 {
		var more []string
		for i := n; i < n+7 && i <= 100; i++ {
			more = append(more, "u"+strconv.Itoa(i))
		}
		if _, err := r.CallingInvite("host", id, more, CallingInviteConfig{}); err != nil {
			t.Fatalf("CallingInvite to %d members: %v", n+len(more), err)
		}
	}
	info, ok := r.Call(id)
	if !ok || len(info.Members) != 101 || info.Members[0].User != "host" || info.ExtendedData != "d" {
		t.Fatalf("after growing: ok %v, %d members, first %q, data %q", ok, len(info.Members), info.Members[0].User, info.ExtendedData)
	}
	for i, m := range info.Members[1:] {
		if want := "u" + strconv.Itoa(i+1); m.User != want || m.State != events.Inviting {
			t.Fatalf("member %d is %s %v, want %s Inviting", i+1, m.User, m.State, want)
		}
	}
	// Each invitee's list still holds the call: a Login replays it (G8).
	rec.Take()
	for _, u := range []string{"u1", "u50", "u100"} {
		r.Login(u, "")
		evs := rec.Take()
		if len(evs) == 0 || evs[0].Kind != events.InvitationReceived || evs[0].To != u {
			t.Fatalf("Login(%s): %v, want its InvitationReceived replayed", u, evs)
		}
	}
	if err := r.Accept("u50", id, AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	// The caller's list too: its last device going cancels nothing once an
	// invitee accepted (G7), and the call stays; the Quit of both ends it.
	r.Login("host", "")
	r.Logout("host", "")
	if _, ok := r.Call(id); !ok {
		t.Fatal("the call ended when its caller went offline after an accept")
	}
	if err := r.End("u50", id, EndConfig{}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Fatalf("after End: %d calls live", r.Len())
	}
	// Every link undone, through every move: only the three users online
	// keep a record, listing no call, and nobody else is in the table.
	checkUsers(t, r)
	r.users.each(func(u *user) {
		if u.head != nil || !u.online() {
			t.Fatalf("after End: user %s still lists a call, or is kept offline", u.id)
		}
	})
	if n := r.users.len(); n != 3 {
		t.Fatalf("after End: %d users in the table, want the 3 online", n)
	}
}

// With TransientMembers the Registry keeps ended calls' records for reuse
// (recycle.go), but a bounded number, and holding nothing of the calls they
// served (G6): after 3000 calls of each tier end at one instant, at most
// maxFree records per tier are kept, each record cleared but for its own
// arrays, which are zero. (The arena's chunks are bounded the same way:
// internal/core's TestArenaKeepsBoundedClearedChunks.)
func TestRecycledMemoryBounded(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r, err := NewRegistry(Options{Clock: clk, TransientMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		for _, n := range []int{1, 3, 9} { // one call of each tier
			var invitees []string
			for k := range n {
				invitees = append(invitees, "u"+strconv.Itoa(i)+"-"+strconv.Itoa(k))
			}
			if _, err := r.Invite("host"+strconv.Itoa(i), invitees, InviteConfig{Timeout: time.Minute}); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.Advance(time.Minute) // every call times out, in one delivery
	if r.Len() != 0 {
		t.Fatalf("%d calls left", r.Len())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for tier, free := range r.recycler.free {
		if len(free) == 0 || len(free) > maxFree {
			t.Errorf("tier %d keeps %d free records, want 1 to %d", tier, len(free), maxFree)
		}
		for _, c := range free {
			storage, firstLink := c.Storage(), c.firstLink
			var want callRecord
			want.Attach(storage)
			want.firstLink, want.dueHandle = firstLink, noSlot
			if c.Room() != tierRooms[tier] || *c != want {
				t.Fatalf("tier %d: a free record holds %+v", tier, *c)
			}
			for i := range storage {
				if m := storage[i]; m != (events.Member{}) {
					t.Fatalf("tier %d: a free record keeps member %+v", tier, m)
				}
				if l := unsafe.Slice(firstLink, len(storage))[i]; l != (memberLink{}) {
					t.Fatalf("tier %d: a free record keeps a link", tier)
				}
			}
		}
	}
}
