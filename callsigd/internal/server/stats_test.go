package server

import (
	"testing"

	"github.com/callsig/callsig/call"
)

// TestRegistryStatsMetrics: /metrics exports the Registry's own counters
// (call.Registry.Stats): online devices, inputs by op and result, events
// by kind, and the Journal's latency histograms.
func TestRegistryStatsMetrics(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bob.WaitEvents(1)
	_ = e.dial("bob", "phone") // replaces bob's connection: a Replay
	for _, c := range []struct {
		metric string
		want   float64
	}{
		{"callsigd_registry_online_devices", 2},
		{`callsigd_registry_inputs_total{op="login",result="ok"}`, 2},
		{`callsigd_registry_inputs_total{op="invite",result="ok"}`, 1},
		{`callsigd_registry_inputs_total{op="replay",result="ok"}`, 1},
		{`callsigd_registry_events_total{kind="InvitationReceived"}`, 2},
		{"callsigd_registry_overloaded", 0},
		{"callsigd_registry_journal_append_seconds_count", 0},
		{"callsigd_registry_journal_sync_seconds_count", 0},
	} {
		if n := e.metric(c.metric); n != c.want {
			t.Errorf("%s = %v, want %v", c.metric, n, c.want)
		}
	}
}
