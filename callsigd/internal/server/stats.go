package server

import (
	"github.com/callsig/callsig/call"
	"github.com/prometheus/client_golang/prometheus"
)

// statsCollector exports the Registry's own counters (call.Registry.Stats)
// at each scrape: what the library counts under its lock — every input by
// op and result, replays and logins included, events by kind, the
// Journal's latency — beside the server's own metrics, which count
// requests as the server answered them. One Stats call per scrape.
type statsCollector struct {
	r func() Backend // called at each scrape

	online, overloaded, commands, events, panics, refusals, appendLat, syncLat *prometheus.Desc
}

func newStatsCollector(r func() Backend) *statsCollector {
	return &statsCollector{
		r:          r,
		online:     prometheus.NewDesc("callsigd_registry_online_devices", "Devices online in the Registry, over all users.", nil, nil),
		overloaded: prometheus.NewDesc("callsigd_registry_overloaded", "1 while the Registry refuses commands for load (C5).", nil, nil),
		commands:   prometheus.NewDesc("callsigd_registry_inputs_total", "Inputs the Registry ran, by op and result: ok, or the error code.", []string{"op", "result"}, nil),
		events:     prometheus.NewDesc("callsigd_registry_events_total", "Events the Registry handed to its Sink, by kind.", []string{"kind"}, nil),
		panics:     prometheus.NewDesc("callsigd_registry_panics_total", "Panics in host code the Registry recovered from (C6).", nil, nil),
		refusals:   prometheus.NewDesc("callsigd_registry_journal_refusals_total", "Journal appends that failed (D1).", nil, nil),
		appendLat:  prometheus.NewDesc("callsigd_registry_journal_append_seconds", "Latency of Journal.Append.", nil, nil),
		syncLat:    prometheus.NewDesc("callsigd_registry_journal_sync_seconds", "Latency of making journaled entries durable.", nil, nil),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.online, c.overloaded, c.commands, c.events, c.panics, c.refusals, c.appendLat, c.syncLat} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.r().Stats()
	ch <- prometheus.MustNewConstMetric(c.online, prometheus.GaugeValue, float64(s.OnlineDevices))
	over := 0.0
	if s.Overloaded {
		over = 1
	}
	ch <- prometheus.MustNewConstMetric(c.overloaded, prometheus.GaugeValue, over)
	for _, n := range s.Commands {
		result := n.Code
		if result == "" {
			result = "ok"
		}
		ch <- prometheus.MustNewConstMetric(c.commands, prometheus.CounterValue, float64(n.Count), string(n.Op), result)
	}
	for _, n := range s.Events {
		ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(n.Count), n.Kind.String())
	}
	ch <- prometheus.MustNewConstMetric(c.panics, prometheus.CounterValue, float64(s.Panics))
	ch <- prometheus.MustNewConstMetric(c.refusals, prometheus.CounterValue, float64(s.JournalRefusals))
	ch <- histogram(c.appendLat, s.JournalAppend)
	ch <- histogram(c.syncLat, s.JournalSync)
}

// histogram is h as a Prometheus histogram: cumulative buckets, seconds.
func histogram(d *prometheus.Desc, h call.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets)
}
