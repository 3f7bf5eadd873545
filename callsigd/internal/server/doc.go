// Package server is callsigd's HTTP and WebSocket front of one
// call.Registry: it authenticates clients, maps each connection to a
// logged-in device, turns requests into the Registry's commands, and is
// the Registry's Sink, routing each event to the connections of its
// recipient or, for one who was offline, to a Pusher.
//
// # How it is built
//
// A connection has two goroutines: its handler reads and runs requests one
// after the other, and its writer sends what the connection's bounded send
// queue holds, in order. Everything a client gets — the hello, replies and
// events — goes through that queue, so that the Registry's Sink (Emit)
// never waits on a network: it encodes an event once and offers it to
// each connection of its user, and a connection whose queue is full is
// dropped and its device logged out. The Registry calls Emit in Seq order
// for each call, so each queue, and the Pusher, get a call's events in
// that order.
//
// The table of devices (user → device → connection) says where events go.
// A connection's arrival and departure change it together with the
// Registry's presence (Login, Logout) under a lock of that user and
// device, so that a replaced connection's departure never logs out the
// device its successor holds.
//
// A device the Registry has online with no connection here, after a
// restart (Config.Grace), gets events that are not Offline and find no
// connection: they are held for it (hold, bounded as a send queue is),
// handed to its connection when it reconnects, ahead of its replays and
// under the same lock that Emit routes with, or dropped when its grace
// period ends.
//
// The Registry is a Backend: a *call.Registry, or a replicated one that
// other servers front too (Config.Shared, a cluster node). A shared
// Backend changes two things: a device may be online through another
// server, so a new connection claims its device from the others
// (Config.Claim, Server.Release) and gets its replays by Replay when the
// device is online already; and the devices online at start are not this
// server's to log out. Every connection is stamped as it opens (Stamp),
// and of the connections of a device the newest by stamp is kept, on
// every server alike: a claim closes the older ones, and is answered
// with a newer one's stamp, which closes the claimer's instead. No lock
// is held while a claim is under way, and a claim is answered without
// waiting for one, so that crossing claims never wait on each other. Its queries may also lag what the other servers
// did: the call and history ops then read after Config.ReadBarrier.
//
// The Registry's Clock is Config.Clock, which also judges token expiry,
// rate limits and heartbeat timeouts, so that a test on a clock.Manual
// controls all of them.
package server
