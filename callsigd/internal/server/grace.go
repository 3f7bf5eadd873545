package server

import (
	"maps"
	"slices"

	"github.com/callsig/callsig/events"
)

// A device in its grace period (Config.Grace) is online in the Registry
// and has no connection here, so the events the Registry makes for it are
// not Offline and find no connection. They are held for it instead, in a
// hold, until the grace period ends one way or the other:
//
//   - the device reconnects: attach hands the held events to its new
//     connection, after the hello and before its replays (G8, A7) and
//     anything emitted after, under s.mu, which Emit holds to route an
//     event, so none is lost, repeated or put out of order;
//   - the grace period ends (expire): the held events that no connection
//     of the user got go to the Pusher, in their order, before the
//     device's Logout, and so before the events it makes (G7); while the
//     Logout is under way, the events for the device go to the Pusher as
//     they come (the hold is pushing). Should the Registry refuse the
//     Logout (its Journal, D1), the device's events are held again until
//     the next try;
//   - the Registry says the device's user has no device online any more,
//     after a lapsed heartbeat (H5) that may come before expire: by an
//     Offline event for the user, or by a cancel of G7, which has the user
//     as From and ReasonCallerOffline: the held events are pushed as at
//     the end of the grace period, before that event;
//   - another server takes the device over (Release): the events are
//     dropped, since that server's connection of the device gets its own;
//   - the server shuts down: they go to the Pusher, as at a logout, and
//     the device stays online in the Registry.
//
// An event that a connection of the user got (another of its devices,
// connected) is not pushed: the user was told of it. It is still handed
// to the device if it reconnects, as it would reach every connection of
// the user it is for.
//
// A hold keeps at most Limits.SendQueue events, as a connection's send
// queue does; past that the oldest is dropped, counted in
// callsigd_grace_events_total{outcome="dropped"} and logged. The device
// still gets its replays when it reconnects, which say what still rings.
type hold struct {
	q       []*heldEvent // in the order Emit got them, so in Seq order per call
	dropped int          // events dropped for the bound
	pushing bool         // the device is being logged out: its events are pushed as they come
}

// heldEvent is one event held for the devices of a user in their grace
// period: the same one for each of them that it is for.
type heldEvent struct {
	to, callID string
	kind       events.Kind
	seq        uint64
	frame      []byte
	// told is whether a connection of the user got the event, or it was
	// pushed: it is not pushed again. Guarded by s.mu (written with it
	// held for writing).
	told bool
}

// holdLocked starts holding the events of user's device. s.mu is held
// for writing.
func (s *Server) holdLocked(user, device string) {
	byDevice := s.held[user]
	if byDevice == nil {
		byDevice = map[string]*hold{}
		s.held[user] = byDevice
	}
	byDevice[device] = &hold{}
}

// unholdLocked stops holding the events of user's device and returns
// its hold, nil if there was none. s.mu is held for writing.
func (s *Server) unholdLocked(user, device string) *hold {
	h := s.held[user][device]
	if h == nil {
		return nil
	}
	delete(s.held[user], device)
	if len(s.held[user]) == 0 {
		delete(s.held, user)
	}
	if h.dropped > 0 {
		s.log.Warn("grace period over: events were dropped for the bound", "user", user, "device", device, "dropped", h.dropped)
	}
	return h
}

// holdEvent adds ev to h, dropping the oldest event h holds when it is
// full. s.mu is held for writing.
func (s *Server) holdEvent(h *hold, device string, ev *heldEvent) {
	if len(h.q) >= s.cfg.Limits.SendQueue {
		old := h.q[0]
		h.q = append(h.q[:0], h.q[1:]...)
		h.dropped++
		s.m.grace.WithLabelValues("dropped").Inc()
		if h.dropped == 1 {
			s.log.Warn("grace queue full: the oldest events are dropped", "user", ev.to, "device", device,
				"queue", s.cfg.Limits.SendQueue, "kind", old.kind, "call_id", old.callID, "seq", old.seq)
		}
	}
	h.q = append(h.q, ev)
	s.m.grace.WithLabelValues("held").Inc()
}

// handOver sends the events held for c's device to c, in order, and
// stops holding them: c has just become the device's connection. s.mu is
// held for writing, so that no event emitted after is sent to c before
// them.
func (s *Server) handOverLocked(c *conn) {
	h := s.unholdLocked(c.user, c.device)
	if h == nil {
		return
	}
	for _, ev := range h.q {
		c.send(ev.frame)
		ev.told = true
	}
	s.m.grace.WithLabelValues("delivered").Add(float64(len(h.q)))
}

// pushHeldLocked pushes, in order, the events held for user's device
// that no connection of the user got and no other hold pushed; then it
// stops holding the device's events, or, with keep, leaves its hold
// pushing them as they come. s.mu is held for writing.
func (s *Server) pushHeldLocked(user, device string, keep bool) {
	h := s.held[user][device]
	if h == nil {
		return
	}
	for _, ev := range h.q {
		s.pushHeld(ev)
	}
	h.q = nil
	if keep {
		h.pushing = true
		return
	}
	s.unholdLocked(user, device)
}

// pushHeld pushes ev unless a connection of its user got it or it was
// pushed already. s.mu is held for writing.
func (s *Server) pushHeld(ev *heldEvent) {
	if ev.told {
		return
	}
	ev.told = true
	s.m.grace.WithLabelValues("pushed").Inc()
	s.push(ev.to, ev.callID, ev.kind, ev.seq, ev.frame)
}

// dropHeldLocked stops holding the events of user's device, dropping
// them: another server took the device over. s.mu is held for writing.
func (s *Server) dropHeldLocked(user, device string) {
	if h := s.unholdLocked(user, device); h != nil {
		s.m.grace.WithLabelValues("released").Add(float64(len(h.q)))
	}
}

// routeLocked hands e, whose frame is frame, on: to the connections of its
// recipient and the holds of its recipient's devices in their grace
// period, or, for an Offline event, to the Pusher, after the held events
// of the recipient's devices, which are then not online any more; and a
// cancel of G7 after the held events of the devices of its From, the
// caller, none of which is online any more. s.mu is held for writing.
func (s *Server) routeLocked(e events.Event, frame []byte) {
	if e.Reason == events.ReasonCallerOffline {
		// G7: e.From has no device online, and what was held for its
		// devices comes before the cancels of its calls.
		for _, device := range slices.Sorted(maps.Keys(s.held[e.From])) {
			s.pushHeldLocked(e.From, device, false)
		}
	}
	if e.Offline {
		// No device of e.To is online: those held for were logged out
		// (a lapsed heartbeat, H5, or expire's Logout under way), and
		// what they hold comes first.
		for _, device := range slices.Sorted(maps.Keys(s.held[e.To])) {
			s.pushHeldLocked(e.To, device, false)
		}
		s.push(e.To, e.CallID, e.Kind, e.Seq, frame)
		return
	}
	told := false
	for device, c := range s.devices[e.To] {
		if e.ToDevice == "" || e.ToDevice == device {
			c.send(frame)
			told = true
		}
	}
	var ev *heldEvent
	for device, h := range s.held[e.To] {
		if e.ToDevice != "" && e.ToDevice != device {
			continue
		}
		if ev == nil {
			ev = &heldEvent{to: e.To, callID: e.CallID, kind: e.Kind, seq: e.Seq, frame: frame, told: told}
		}
		if h.pushing {
			s.pushHeld(ev)
			continue
		}
		s.holdEvent(h, device, ev)
	}
}
