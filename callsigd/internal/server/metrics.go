package server

import (
	"github.com/callsig/callsig/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are what /metrics exports. Each Server has a prometheus
// registry of its own, so that servers in one process (tests) do not mix
// their figures.
type metrics struct {
	reg         *prometheus.Registry
	commands    *prometheus.CounterVec   // op, result ("ok" or the error code)
	latency     *prometheus.HistogramVec // op
	events      *prometheus.CounterVec   // kind
	eventKinds  [256]prometheus.Counter  // events' counter of each known kind, resolved once: Emit counts every event
	pushes      *prometheus.CounterVec   // outcome (see package push)
	connections prometheus.Gauge
	closes      *prometheus.CounterVec // why a connection was closed by the server
	rejected    *prometheus.CounterVec // WebSocket upgrades refused, by reason
	grace       *prometheus.CounterVec // events held for devices in their grace period, by outcome (see hold)
}

// newMetrics makes the metrics of the Backend r returns. It is called
// before the Backend exists (a recovered Registry may emit events, which
// the metrics count, before New has it); r is called at scrape time only.
func newMetrics(r func() Backend) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsigd_commands_total",
			Help: "Requests answered, by op and result: ok, or the error code of the reply.",
		}, []string{"op", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "callsigd_command_duration_seconds",
			Help:    "Time from reading a request to queueing its reply, by op.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16), // 25 µs to about 0.8 s
		}, []string{"op"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsigd_events_total",
			Help: "Events the Registry produced, by kind (online and offline alike).",
		}, []string{"kind"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsigd_offline_pushes_total",
			Help: "Offline events for the push webhook, by outcome: queued, sent, retried, failed, dropped, abandoned, or logged when no webhook is set.",
		}, []string{"outcome"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callsigd_connections",
			Help: "WebSocket connections open (each one logged-in device).",
		}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsigd_connection_closes_total",
			Help: "Connections the server closed, by reason: replaced, slow (send queue full), rate_limited, too_big (a message over 64 KiB), heartbeat, login_refused (the Registry refused the login or its replays), shutdown, restored (ReleaseAll).",
		}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsigd_upgrades_refused_total",
			Help: "WebSocket upgrades refused, by reason: token, shutting_down.",
		}, []string{"reason"}),
		grace: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callsigd_grace_events_total",
			Help: "Events for devices in their grace period after a restart, by outcome: held, delivered (to the device's new connection), expired (held when its grace period ended or the server stopped), dropped (the oldest, past the send queue's bound), released (another server took the device over).",
		}, []string{"outcome"}),
	}
	for k := events.Kind(1); ; k++ {
		if _, known := events.ParseKind(k.String()); !known {
			break
		}
		m.eventKinds[k] = m.events.WithLabelValues(k.String())
	}
	m.reg.MustRegister(m.commands, m.latency, m.events, m.pushes, m.connections, m.closes, m.rejected, m.grace,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callsigd_calls_live",
			Help: "Calls not yet over (Registry.Len).",
		}, func() float64 { return float64(r().Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callsigd_registry_backlog",
			Help: "Events produced and not yet handed to connections (Registry.Backlog); commands are refused as overloaded past Options.MaxBacklog.",
		}, func() float64 { return float64(r().Backlog()) }),
		newStatsCollector(r), // the Registry's own counts (stats.go)
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// countEvent counts an event of kind k in callsigd_events_total.
func (m *metrics) countEvent(k events.Kind) {
	if c := m.eventKinds[k]; c != nil {
		c.Inc()
		return
	}
	m.events.WithLabelValues(k.String()).Inc() // a kind this build does not know
}
