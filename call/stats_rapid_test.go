package call_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// countingServer is a Registry whose commands are counted by op and code,
// as a host would count them, to check Stats.Commands against.
type countingServer struct {
	*call.Registry
	mu     sync.Mutex
	counts map[string]uint64 // "op code"
}

func (s *countingServer) note(op call.Op, err error) {
	s.mu.Lock()
	s.counts[fmt.Sprint(op, " ", call.Code(err))]++
	s.mu.Unlock()
}

func (s *countingServer) Invite(inviter string, invitees []string, c call.InviteConfig) (call.InviteResult, error) {
	r, err := s.Registry.Invite(inviter, invitees, c)
	s.note(call.OpInvite, err)
	return r, err
}
func (s *countingServer) Cancel(inviter, callID string, invitees []string, c call.CancelConfig) ([]string, error) {
	f, err := s.Registry.Cancel(inviter, callID, invitees, c)
	s.note(call.OpCancel, err)
	return f, err
}
func (s *countingServer) Accept(u, id string, c call.AcceptConfig) error {
	err := s.Registry.Accept(u, id, c)
	s.note(call.OpAccept, err)
	return err
}
func (s *countingServer) Reject(u, id string, c call.RejectConfig) error {
	err := s.Registry.Reject(u, id, c)
	s.note(call.OpReject, err)
	return err
}
func (s *countingServer) Login(u, d string) error {
	err := s.Registry.Login(u, d)
	s.note(call.OpLogin, err)
	return err
}
func (s *countingServer) Logout(u, d string) error {
	err := s.Registry.Logout(u, d)
	s.note(call.OpLogout, err)
	return err
}
func (s *countingServer) Heartbeat(u, d string) error {
	err := s.Registry.Heartbeat(u, d)
	s.note(call.OpHeartbeat, err)
	return err
}
func (s *countingServer) CallingInvite(u, id string, invitees []string, c call.CallingInviteConfig) (call.InviteResult, error) {
	r, err := s.Registry.CallingInvite(u, id, invitees, c)
	s.note(call.OpCallingInvite, err)
	return r, err
}
func (s *countingServer) Join(u, id string, c call.JoinConfig) (call.Info, error) {
	i, err := s.Registry.Join(u, id, c)
	s.note(call.OpJoin, err)
	return i, err
}
func (s *countingServer) Quit(u, id string, c call.QuitConfig) error {
	err := s.Registry.Quit(u, id, c)
	s.note(call.OpQuit, err)
	return err
}
func (s *countingServer) End(u, id string, c call.EndConfig) error {
	err := s.Registry.End(u, id, c)
	s.note(call.OpEnd, err)
	return err
}

// TestStatsAgreeRapid: over the rapid state machine's runs, Stats agrees with
// what the host saw: Events with the events the Sink got, by kind;
// Commands with the results the commands returned, by op and code;
// LiveCalls with Len, OnlineDevices with Online, Backlog zero after a
// command from one goroutine (C3).
func TestStatsAgreeRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := drawOptions(t)
		_ = drawPolicies(t, &o)
		clk := clock.NewManual(rapidStart)
		rec := &events.Recorder{}
		var mu sync.Mutex
		got := map[events.Kind]uint64{}
		sink := events.SinkFunc(func(e events.Event) {
			mu.Lock()
			got[e.Kind]++
			mu.Unlock()
			rec.Emit(e)
		})
		late := rapid.SampledFrom([]time.Duration{0, 0, 700 * time.Millisecond, neverFires}).Draw(t, "timer lateness")
		ro := o
		ro.Clock, ro.Sink, ro.NewID = slowClock{clk, late}, sink, calltest.IDs("c")
		r, err := call.NewRegistry(ro)
		if err != nil {
			t.Fatal(err)
		}
		srv := &countingServer{Registry: r, counts: map[string]uint64{}}
		h := &calltest.Harness{Server: srv, Model: modelOf(o), Advance: clk.Advance, Take: rec.Take, LateTimers: late > 0}
		check := func(t *rapid.T) {
			st := r.Stats()
			mu.Lock()
			defer mu.Unlock()
			for _, ec := range st.Events {
				if ec.Count != got[ec.Kind] {
					t.Fatalf("after step %d: Stats counts %d %v events, the Sink got %d", h.Steps, ec.Count, ec.Kind, got[ec.Kind])
				}
			}
			srv.mu.Lock()
			want := map[string]uint64{}
			for k, v := range srv.counts {
				want[k] = v
			}
			srv.mu.Unlock()
			for _, cc := range st.Commands {
				k := fmt.Sprint(cc.Op, " ", cc.Code)
				if want[k] != cc.Count {
					t.Fatalf("after step %d: Stats counts %d %q, the host saw %d", h.Steps, cc.Count, k, want[k])
				}
				delete(want, k)
			}
			for k, v := range want {
				t.Fatalf("after step %d: Stats does not count %d %q", h.Steps, v, k)
			}
			if st.LiveCalls != r.Len() || st.OnlineDevices != len(r.Online()) || st.Backlog != 0 || st.Backlog != r.Backlog() {
				t.Fatalf("after step %d: Stats %+v; Len %d, Online %d, Backlog %d", h.Steps, st, r.Len(), len(r.Online()), r.Backlog())
			}
		}
		actions := h.Actions()
		actions[""] = func(t *rapid.T) {
			h.Check(t)
			check(t)
		}
		t.Repeat(actions)
		h.Finish(t)
		check(t)
	})
}
