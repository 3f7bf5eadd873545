package server

import "time"

// Stamp orders the connections of one user and device across the
// servers of a shared Backend (Config.Shared): of two connections of a
// device, the one with the greater stamp is the newer, and survives
// (PROTOCOL.md: a second connection replaces the first). A server stamps
// each connection as it opens, and its claim (Config.Claim) carries the
// stamp, so that every server decides the same way which of two
// concurrent connections is replaced.
//
// Time is a hybrid logical clock's reading, in Unix nanoseconds: the
// server's clock, but never less than one more than any stamp the server
// made or heard of in a claim or a claim's answer before. So a connection
// opened after its server heard another's claim is newer than that one,
// whatever the clocks say, and one opened later than another by more than
// the clocks' skew is newer too. Node, which names the server
// (Config.Node), orders two stamps of the same Time; a server never makes
// the same Time twice. The zero Stamp is older than every other.
type Stamp struct {
	Time int64  `json:"time"`
	Node string `json:"node"`
}

// Less reports whether s is older than t.
func (s Stamp) Less(t Stamp) bool {
	if s.Time != t.Time {
		return s.Time < t.Time
	}
	return s.Node < t.Node
}

// IsZero reports whether s is the zero Stamp: no connection.
func (s Stamp) IsZero() bool { return s == Stamp{} }

// stampLocked makes a connection's stamp (see Stamp) from now, the
// Clock's reading, taken before the lock (the Clock is host code). It is
// called with s.mu held.
func (s *Server) stampLocked(now time.Time) Stamp {
	t := now.UnixNano()
	if t <= s.hlc {
		t = s.hlc + 1
	}
	s.hlc = t
	return Stamp{t, s.node}
}

// heardLocked moves the server's hybrid logical clock past t, a stamp of
// another server's, so that every connection stamped here after is newer
// than t. It is called with s.mu held.
func (s *Server) heardLocked(t Stamp) { s.hlc = max(s.hlc, t.Time) }
