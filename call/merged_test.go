package call_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// snapMerged returns, per call ID, the merged invites a snapshot keeps for
// H4 retries.
func snapMerged(t *testing.T, r *call.Registry) map[string][]json.RawMessage {
	t.Helper()
	b, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Calls []struct {
			ID     string            `json:"id"`
			Merged []json.RawMessage `json:"merged"`
		} `json:"calls"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	out := map[string][]json.RawMessage{}
	for _, c := range s.Calls {
		out[c.ID] = c.Merged
	}
	return out
}

// TestMergedRetriesBounded: H3 then H4 in a loop. Two invitees of an
// advanced call merge into it (H3) with host-chosen CallIDs, quit, are
// invited again and merge again, 10,000 times: bob with a new CallID each
// time, carol with the same one. A call keeps what a retry needs of each
// member's latest merge only, so it holds two entries however long the
// loop runs, in the Registry, its snapshot, a restore and a replay (D1,
// D2). A retry of either latest merge gets its first result and emits
// nothing; a retry of bob's first merge, which his later merges replaced,
// is a new invite.
func TestMergedRetriesBounded(t *testing.T) {
	const loops = 10000
	j := &memJournal{}
	clk := clock.NewManual(t0)
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, Journal: j, NewID: counterIDs(), Glare: call.GlareMerge})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	merge := func(user, id string) call.InviteResult {
		t.Helper()
		res, err := r.Invite(user, []string{"alice"}, call.InviteConfig{CallID: id})
		if err != nil || !res.Merged || res.CallID != "c1" {
			t.Fatalf("%s's invite %s: %+v, %v; want a merge into c1", user, id, res, err)
		}
		return res
	}
	var bobFirst, bobLast, carolLast call.InviteResult
	for i := 0; ; i++ {
		bobLast = merge("bob", fmt.Sprintf("bob-%d", i))
		carolLast = merge("carol", "carol-back")
		if i == 0 {
			bobFirst = bobLast
		}
		if i == loops {
			break
		}
		for _, u := range []string{"bob", "carol"} {
			if err := r.Quit(u, "c1", call.QuitConfig{}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(time.Millisecond) // each merge a different deadline
		if _, err := r.CallingInvite("alice", "c1", []string{"bob", "carol"}, call.CallingInviteConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if bobLast.Deadline.Equal(bobFirst.Deadline) {
		t.Fatal("the loop did not move the deadlines")
	}
	rec.Take()
	merged := snapMerged(t, r)["c1"]
	if len(merged) != 2 {
		t.Fatalf("c1 keeps %d merged invites after %d loops, want 2 (one per member who merged)", len(merged), loops)
	}

	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	recS, recR := &events.Recorder{}, &events.Recorder{}
	restored, err := call.Restore(snap, call.Options{Clock: clock.NewManual(clk.Now()), Sink: recS, Glare: call.GlareMerge})
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := call.Recover(nil, j.entries(t), call.Options{Clock: clock.NewManual(t0), Sink: recR, Glare: call.GlareMerge})
	if err != nil {
		t.Fatal(err)
	}
	recR.Take() // the replay's own events
	for _, g := range []struct {
		name string
		r    *call.Registry
		rec  *events.Recorder
	}{{"live", r, rec}, {"restored", restored, recS}, {"replayed", replayed, recR}} {
		if got := snapMerged(t, g.r)["c1"]; !reflect.DeepEqual(got, merged) {
			t.Fatalf("%s: merged %s, want %s", g.name, got, merged)
		}
		for _, c := range []struct {
			user, id string
			want     call.InviteResult
		}{{"bob", fmt.Sprintf("bob-%d", loops), bobLast}, {"carol", "carol-back", carolLast}} {
			again, err := g.r.Invite(c.user, []string{"alice"}, call.InviteConfig{CallID: c.id})
			if evs := g.rec.Take(); err != nil || !reflect.DeepEqual(again, c.want) || len(evs) != 0 || g.r.Len() != 1 {
				t.Fatalf("%s: %s's retry of %s: %+v, %v, %d events (Len %d); want %+v and none", g.name, c.user, c.id, again, err, len(evs), g.r.Len(), c.want)
			}
		}
		// bob merged again since: his first merge's retry is a new invite.
		old, err := g.r.Invite("bob", []string{"alice"}, call.InviteConfig{CallID: "bob-0"})
		if err != nil || old.Merged || old.CallID != "bob-0" || g.r.Len() != 2 {
			t.Fatalf("%s: a retry of bob's first merge: %+v, %v; want a new call bob-0", g.name, old, err)
		}
	}

	// A merge without a host-chosen CallID leaves nothing to retry, and
	// replaces the member's earlier merge all the same.
	if err := r.Quit("carol", "c1", call.QuitConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CallingInvite("alice", "c1", []string{"carol"}, call.CallingInviteConfig{}); err != nil {
		t.Fatal(err)
	}
	merge("carol", "")
	if n := len(snapMerged(t, r)["c1"]); n != 1 {
		t.Fatalf("c1 keeps %d merged invites after carol's merge without a CallID, want 1 (bob's)", n)
	}
	if res, err := r.Invite("carol", []string{"alice"}, call.InviteConfig{CallID: "carol-back"}); err != nil || res.Merged || res.CallID != "carol-back" {
		t.Fatalf("a retry of carol's earlier merge: %+v, %v; want a new call carol-back", res, err)
	}
}
