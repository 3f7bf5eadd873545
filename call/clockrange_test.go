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
