package server

import "github.com/callsig/callsig/events"

// A device in its grace period (Config.Grace) is online in the Registry
// and has no connection here, so the events the Registry makes for it are
// not Offline and find no connection. They are held for it instead, in a
// hold, to bridge its reconnection:
//
//   - the device reconnects: attach hands the held events to its new
//     connection, after the hello and before its replays (G8, A7) and
//     anything emitted after, under s.mu, which Emit holds to route an
//     event, so none is lost, repeated or put out of order;
//   - the grace period ends (expire), the server shuts down, or another
//     server takes the device over (Release): the held events are
//     dropped and counted. They are not pushed: the pushes of a call go
//     out in Seq order (PROTOCOL.md), and other recipients' pushes of the
//     same calls have gone out meanwhile. What still rings, the device's
//     replays tell it when it next logs in.
//
// A hold keeps at most Limits.SendQueue events, as a connection's send
// queue does; past that the oldest is dropped, counted in
// callsigd_grace_events_total{outcome="dropped"} and logged. The device
// still gets its replays when it reconnects, which say what still rings.
type hold struct {
	q       [][]byte // the events' frames, in the order Emit got them, so in Seq order per call
	dropped int      // events dropped for the bound
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
	return h
}

// logDropped logs, without the lock (the Logger is host code), how many
// events a hold that ended dropped for its bound, if any.
func (s *Server) logDropped(user, device string, dropped int) {
	if dropped > 0 {
		s.log.Warn("grace period over: events were dropped for the bound", "user", user, "device", device,
			"queue", s.cfg.Limits.SendQueue, "dropped", dropped)
	}
}

// holdEvent adds frame to h, dropping the oldest event h holds when it is
// full. s.mu is held for writing.
func (s *Server) holdEvent(h *hold, frame []byte) {
	if len(h.q) >= s.cfg.Limits.SendQueue {
		h.q[0] = nil
		h.q = h.q[1:] // append moves what is left when it needs room
		h.dropped++
		s.m.grace.WithLabelValues("dropped").Inc()
	}
	h.q = append(h.q, frame)
	s.m.grace.WithLabelValues("held").Inc()
}

// handOverLocked sends the events held for c's device to c, in order,
// and stops holding them: c has just become the device's connection. s.mu
// is held for writing, so that no event emitted after is sent to c before
// them. It returns how many the hold dropped for its bound (logDropped).
func (s *Server) handOverLocked(c *conn) (dropped int) {
	h := s.unholdLocked(c.user, c.device)
	if h == nil {
		return 0
	}
	for _, frame := range h.q {
		c.send(frame)
	}
	s.m.grace.WithLabelValues("delivered").Add(float64(len(h.q)))
	return h.dropped
}

// dropHeldLocked stops holding the events of user's device, dropping
// them, counted as outcome: "expired" (its grace period ended, or the
// server shuts down) or "released" (another server took the device
// over). s.mu is held for writing. It returns how many the hold dropped
// for its bound (logDropped).
func (s *Server) dropHeldLocked(user, device, outcome string) (dropped int) {
	h := s.unholdLocked(user, device)
	if h == nil {
		return 0
	}
	s.m.grace.WithLabelValues(outcome).Add(float64(len(h.q)))
	return h.dropped
}

// routeLocked hands e, an event that is not Offline, whose frame is
// frame, to the connections of its recipient and the holds of its
// recipient's devices in their grace period. s.mu is held for writing.
func (s *Server) routeLocked(e events.Event, frame []byte) {
	for device, c := range s.devices[e.To] {
		if e.ToDevice == "" || e.ToDevice == device {
			c.send(frame)
		}
	}
	for device, h := range s.held[e.To] {
		if e.ToDevice == "" || e.ToDevice == device {
			s.holdEvent(h, frame)
		}
	}
}
