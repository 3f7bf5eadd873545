// Callsigd is the reference signaling server of callsig: one call.Registry
// behind a WebSocket, with dev tokens, an offline-push webhook and
// Prometheus metrics. Run it, or read it as the example of how to embed
// the Registry.
//
// From the repository root,
//
//	go run ./callsigd
//
// serves on http://127.0.0.1:8080 with everything in memory and dev
// tokens, and says so on its first line of standard error:
//
//	callsigd: serving http://127.0.0.1:8080 (dev mode, in memory)
//
// It stops cleanly on SIGINT or SIGTERM: it takes no new connection,
// closes every open one with 1001 (going away), logs their devices out
// (not with -data: see Durable state),
// waits until the Registry has handed on every event that made, and sends
// the pushes still queued, within 10 s.
//
// # Flags
//
//	-addr HOST:PORT        listen address (default 127.0.0.1:8080)
//	-data DIR              keep the state durably in DIR (below); without it: in memory
//	-checkpoint-entries N  with -data: snapshot and compact once N entries were
//	                       journaled since the last snapshot (default 10000;
//	                       at least 1)
//	-secret-file FILE      HS256 key for client tokens, at least 32 bytes (a
//	                       trailing newline is not part of it); without it: dev mode
//	-insecure-dev          allow dev mode on an address other than loopback
//	-push-webhook URL      POST every offline event here; without it they are logged
//	-heartbeat DURATION    H5 HeartbeatTimeout (default 0: off)
//	-busy, -glare          H2 BusyInCall, H3 GlareMerge
//	-history N             H8 ended calls kept per user (default 20)
//	-max-invitees N, -default-timeout D, -max-timeout D   as call.Options
//	-tls-cert FILE, -tls-key FILE   serve HTTPS and WSS
//	-allowed-origins LIST  other origins whose pages may open the WebSocket,
//	                       comma-separated host patterns (app.example.com,
//	                       *.example.com, or https://app.example.com to name
//	                       the scheme too); default: same origin only
//
// -node and -peers (a cluster) are recognised and refused: this build
// runs one node, and a server that ignored them would lose what its
// operator thought safe.
//
// In dev mode the server makes a random key at start and mints a token
// for anyone at POST /v1/dev/token; tokens die with the process. Dev mode
// on an address other than loopback (":8080" listens on every interface)
// needs -insecure-dev.
//
// -checkpoint-entries goes beyond PROTOCOL.md, which names every other
// flag above and says only that snapshots bound the journal: it is this
// server's knob for how. It counts journal entries (each command, login,
// logout, heartbeat and passing of time that changed something is one);
// it applies only with -data, and is ignored without; 0 is refused. A
// smaller N makes a restart replay less journal and keeps less on disk,
// for more snapshots, each of which writes the whole state (Durable
// state, below).
//
// # Durable state
//
// With -data DIR the Registry journals every input to DIR (package
// journal) before its events go out or its command returns, with group
// commit: one fsync serves every command that waits for it. At start the
// server recovers the Registry from DIR (the latest snapshot, then the
// journal after it); the events that recovery replays are dropped, offline
// ones included: they went out before the crash, or nobody heard of them,
// and an invitee who logs in is told again of what rings for it (G8).
// Deadlines that passed while the server was down fall due at start.
// Every second the server looks whether -checkpoint-entries entries were
// journaled since the last snapshot; if so it stores a snapshot and
// removes the segments it covers, so the journal stays bounded by about
// that many entries. On SIGINT or SIGTERM it closes the connections
// without logging their devices out, takes a last snapshot and closes
// the journal, every entry durable.
//
// Devices that were online when the server stopped or died get a grace
// period to reconnect: the -heartbeat timeout if set, else 30 s. One that
// reconnects within it is online again and gets its replays (G8, A7); one
// that does not is logged out then, and G7 cancels its user's unanswered
// calls. With -heartbeat the start counts as a heartbeat of each of
// these devices (H5, journaled): the Registry's own deadline for it is the
// timeout after the start, the end of the grace period, not the timeout
// after its last heartbeat before the crash, which may have passed while
// the server was down.
//
// A logout the journal refuses (a full disk) is retried 10 times, 50 ms
// after the first refusal and twice as long after each (at most 5 s),
// without holding up a reconnection of the device; then, or at shutdown,
// the server gives up and the device stays online in the Registry.
//
// # HTTP
//
//	GET  /                the browser app (embedded; no CDN)
//	GET  /v1/ws?token=T   the WebSocket
//	POST /v1/dev/token    dev mode only (404 otherwise): {"user","device"} → {"token"}
//	GET  /healthz         200 "ok" while the server takes commands, 503 once it stops
//	GET  /metrics         Prometheus text: callsigd_calls_live,
//	                      callsigd_commands_total{op,result},
//	                      callsigd_command_duration_seconds{op},
//	                      callsigd_events_total{kind},
//	                      callsigd_offline_pushes_total{outcome},
//	                      callsigd_connections, callsigd_connection_closes_total{reason},
//	                      callsigd_upgrades_refused_total{reason},
//	                      callsigd_registry_backlog, and Go's and the process's own
//
// # The WebSocket
//
// A token is a JWT signed with HS256: "sub" the user, "dev" the device
// (absent: ""), "exp" required. A missing, malformed, expired or wrongly
// signed token, or one naming an ID the Registry would refuse, gets 401
// and no WebSocket.
//
// One connection is one logged-in device: opening it is Login, closing or
// losing it Logout (G7 may then cancel the user's unanswered calls). The
// server speaks first, {"type":"hello","user","device","server_time"},
// once the login is done, so that a request sent after reading it finds
// the device online; the login's replays (G8, A7) follow as events. A
// second connection of the same user and device replaces the first, which
// is closed with 4000 "replaced"; the device stays online throughout.
//
// Requests are {"type":"request","id","op",…}, one JSON object per text
// frame of at most 64 KiB (a larger one closes the connection with 1009);
// replies are {"type":"reply","id","result"} or {"type":"reply","id",
// "error":{"code","message"}}. The ops and their results are PROTOCOL.md's:
// invite, cancel, accept, reject, calling_invite, join, quit, end, call,
// history and heartbeat; they act as the connection's user, and accept,
// reject, join, quit and end from its device. Fields an op does not take,
// and unknown fields, are ignored. "call" answers call_not_found to a user
// who is not a member, as every command on the call does (G10).
//
// Error codes are call.Code's (not_pending, call_not_found, …) and two of
// the server's own: bad_request (a frame that is not a JSON request: not
// JSON, a binary frame, a type other than "request", no or an unknown op,
// a field of the wrong type, an unknown mode, a negative timeout_ms; the
// reply carries the id when it was a string that could be read; the
// connection stays open) and rate_limited (below).
//
// Events are {"type":"event",…} with the fields of events.Event as its
// JSON gives them, less "to" (the connection's user) and "offline". An
// event reaches every connection of its user, or the one device
// "to_device" names; the events of a call reach a connection in Seq order,
// none twice.
//
// # Limits
//
// A client costs the others nothing:
//
//   - Its frames wait in a send queue of 256 (the hello and the login's
//     replays included). The Registry's Sink only ever tries to queue a
//     frame, never waits: a client that lets its queue fill is
//     disconnected at once, without a close frame, and logged out.
//   - It may send 20 requests a second, in bursts of 40. A request over
//     that is not run and gets the error rate_limited; a connection that
//     gets more than 10 of those at once (it regains one a second) is
//     closed with 1008 "rate limit exceeded".
//   - With -heartbeat, a connection that sends no heartbeat within the
//     timeout is closed with 4001 "heartbeat timeout", as its device is
//     logged out by the Registry (H5). Only the heartbeat op (and the
//     connection's opening) counts.
//
// # Offline events
//
// An event whose recipient had no device online goes to -push-webhook as
// POST {"to": user, "event": {…as a connection gets it}} with
// Content-Type application/json. Pushes wait in bounded queues (4 of 1024,
// by call) and are never waited for: a full queue drops the push. Each is
// tried up to 5 times, 200 ms after the first failure and twice as long
// after each (at most 10 s); a network error, 429 or 5xx is retried,
// another status is the webhook's refusal. The pushes of one call go out
// in Seq order, a retry included: a cancel never overtakes its invitation.
// Every outcome is counted in callsigd_offline_pushes_total.
package main
