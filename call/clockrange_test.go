package call_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// A Registry keeps exact times whatever its clock reads: a test that starts
// a Manual at the zero time.Time (year 1), or a simulation in the far
// future, gets the same CreatedAt, Deadline, event At and EndedAt as one in
// 2026, and timeouts in deadline order (internally the Registry keeps some
// times as integers; they must not overflow into wrong answers).
func TestClockFarFromNow(t *testing.T) {
	for _, start := range []time.Time{
		{}, // year 1, the zero Time
		time.Date(1500, 6, 1, 12, 0, 0, 5, time.UTC),
		time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(fmt.Sprint(start.Year()), func(t *testing.T) {
			clk := clock.NewManual(start)
			rec := &events.Recorder{}
			r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, History: 5})
			if err != nil {
				t.Fatal(err)
			}
			late, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 50 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			early, err := r.Invite("carol", []string{"dave"}, call.InviteConfig{Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if info, _ := r.Call(early.CallID); !info.CreatedAt.Equal(start.Add(time.Second)) {
				t.Fatalf("CreatedAt %v, want %v", info.CreatedAt, start.Add(time.Second))
			}
			if want := start.Add(21 * time.Second); !early.Deadline.Equal(want) {
				t.Fatalf("Deadline %v, want %v", early.Deadline, want)
			}
			rec.Take()
			clk.Advance(time.Minute)
			var got []string
			for _, e := range rec.Take() {
				got = append(got, fmt.Sprintf("%s %s +%v", e.Kind, e.CallID, e.At.Sub(start)))
			}
			want := []string{
				"InviteesAnsweredTimeout " + early.CallID + " +21s", "InvitationTimeout " + early.CallID + " +21s",
				"InviteesAnsweredTimeout " + late.CallID + " +50s", "InvitationTimeout " + late.CallID + " +50s",
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("timeouts:\n got %v\nwant %v", got, want)
			}
			hist, _, err := r.History("bob", 0, "")
			if err != nil || len(hist) != 1 {
				t.Fatalf("History(bob) = %v, %v", hist, err)
			}
			if !hist[0].CreatedAt.Equal(start) || !hist[0].EndedAt.Equal(start.Add(50*time.Second)) {
				t.Fatalf("history: CreatedAt %v EndedAt %v, want %v and +50s", hist[0].CreatedAt, hist[0].EndedAt, start)
			}
		})
	}
}

// Deadlines centuries apart stay exact and in order: a call pending from
// the first second keeps the deadline heap's base there while another is
// made half a year later with a timeout of 292 years (the longest a
// time.Duration holds), past what a key counted from that base can say.
// The long one must time out at its deadline, not before, and the Registry
// must not spin on a deadline it cannot reach (both happened once).
func TestDeadlinesCenturiesApart(t *testing.T) {
	const year = 365 * 24 * time.Hour
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, MaxTimeout: 292 * year})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("a", []string{"b"}, call.InviteConfig{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("c", []string{"d"}, call.InviteConfig{Timeout: year}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(year / 2)
	long, err := r.Invite("e", []string{"f"}, call.InviteConfig{Timeout: 292 * year})
	if err != nil {
		t.Fatal(err)
	}
	rec.Take()
	done := make(chan struct{})
	go func() {
		defer close(done)
		clk.Set(long.Deadline.Add(-time.Nanosecond))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Set did not return: the Registry spins on a deadline it cannot reach")
	}
	for _, e := range rec.Take() {
		if e.CallID == long.CallID {
			t.Fatalf("%v at %v, before the deadline %v", e.Kind, e.At, long.Deadline)
		}
	}
	clk.Advance(time.Nanosecond)
	evs := rec.Take()
	if len(evs) != 2 || evs[0].CallID != long.CallID || evs[0].Kind != events.InviteesAnsweredTimeout || !evs[0].At.Equal(long.Deadline) {
		t.Fatalf("at the long deadline: %v", evs)
	}
}
