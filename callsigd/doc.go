// Callsigd is the reference signaling server of callsig: one call.Registry
// behind a WebSocket, with dev tokens, an offline-push webhook and
// Prometheus metrics, on one server or replicated over a cluster (see
// Cluster). Run it, or read it as the example of how to embed
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
// the pushes still queued, within 10 s. A second SIGINT or SIGTERM
// during that stop ends the process at once, as the signal's default
// action does.
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
//	-node ID               this node's ID in a cluster (below; needs -peers and -data)
//	-peers ID=RAFT=HTTP,...  every node of the cluster, itself included: its ID,
//	                       its raft address and its HTTP address
//
// In dev mode the server makes a random key at start and mints a token
// for anyone at POST /v1/dev/token; tokens die with the process. Dev mode
// on an address other than loopback (":8080" listens on every interface)
// needs -insecure-dev.
//
// -checkpoint-entries goes beyond PROTOCOL.md, which names every other
// flag above and says only that snapshots bound the journal: it is this
// server's knob for how. It counts journal entries (each command, login,
// logout, heartbeat and passing of time that changed something is one; in
// a cluster, where it is raft's snapshot threshold, the call and history
// queries add barrier entries too, one for all those asked meanwhile: see
// Cluster);
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
// A directory serves one server at a time: a second one started on it
// (a single server or a node, whose raft stores are there too) says it
// is in use and exits with status 1, before its first line. The lock is
// an flock on DIR/LOCK, which the system releases when the process ends,
// however it ends.
//
// Devices that were online when the server stopped or died get a grace
// period to reconnect: the -heartbeat timeout if set, else 30 s. One that
// reconnects within it is online again and gets its replays (G8, A7); one
// that does not is logged out then, and G7 cancels its user's unanswered
// calls. Such a device is online, so the events for it meanwhile (an
// accept of its user's call, say) are not offline ones: the server holds
// them for it, in order, at most as many as a connection's send queue
// (256; past that the oldest are dropped, counted and logged, and the
// device still gets its replays). A device that reconnects within the
// grace period gets them first, after the hello and before its replays
// and anything later, each once and in Seq order per call. When the grace
// period ends without a reconnection, or at shutdown, they are dropped
// (counted in /metrics), not pushed: the pushes of one call go out in Seq
// order, and other recipients' pushes of the same calls went out
// meanwhile; the device's replays say what still rings when it next logs
// in. With -heartbeat the start counts as a heartbeat of each of
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
//	POST /v1/dev/token    dev mode only (404 otherwise): {"user","device"} → {"token"};
//	                      the body is that one object, its members strings by these
//	                      exact names, each once ("device" may be left out), with
//	                      nothing after it, else 400
//	GET  /healthz         200 "ok" while the server takes commands, 503 once it stops
//	                      (and, in a cluster, while the node knows no leader)
//	GET  /v1/cluster      in a cluster: {"node","leader","peers":[{"id","raft","http"}]}
//	                      ("leader" is "" while none is known)
//	GET  /metrics         Prometheus text: callsigd_calls_live,
//	                      callsigd_commands_total{op,result},
//	                      callsigd_command_duration_seconds{op},
//	                      callsigd_events_total{kind},
//	                      callsigd_offline_pushes_total{outcome},
//	                      callsigd_connections, callsigd_connection_closes_total{reason},
//	                      callsigd_grace_events_total{outcome},
//	                      callsigd_upgrades_refused_total{reason},
//	                      callsigd_registry_backlog; the Registry's own counts
//	                      (call.Registry.Stats): callsigd_registry_online_devices,
//	                      callsigd_registry_overloaded,
//	                      callsigd_registry_inputs_total{op,result},
//	                      callsigd_registry_events_total{kind},
//	                      callsigd_registry_panics_total,
//	                      callsigd_registry_journal_refusals_total,
//	                      callsigd_registry_journal_append_seconds,
//	                      callsigd_registry_journal_sync_seconds; and Go's and
//	                      the process's own
//
// # The WebSocket
//
// A token is a JWT signed with HS256: "sub" the user, "dev" the device
// (absent: ""), "exp" required. Claims are read by their exact names;
// "exp", "nbf" and "iat" must be JSON numbers (RFC 7519's NumericDate,
// not a string of digits), and none of the claims may stand twice. A
// missing, malformed, expired or wrongly signed token, or one naming an
// ID the Registry would refuse, gets 401 and no WebSocket.
//
// One connection is one logged-in device: opening it is Login, closing or
// losing it Logout (G7 may then cancel the user's unanswered calls). The
// server speaks first, {"type":"hello","user","device","server_time"},
// once the login is done, so that a request sent after reading it finds
// the device online (a login refused, by a full journal or, in a
// cluster, for want of a leader, gets no hello: the connection is closed
// with 1013, try again later); the login's replays (G8, A7) follow as
// events. A
// second connection of the same user and device replaces the first, which
// is closed with 4000 "replaced"; the device stays online throughout.
//
// Requests are {"type":"request","id","op",…}, one JSON object per text
// frame of at most 64 KiB (a larger one closes the connection with 1009,
// after the replies to the requests read before it);
// replies are {"type":"reply","id","result"} or {"type":"reply","id",
// "error":{"code","message"}}. The ops and their results are PROTOCOL.md's:
// invite, cancel, accept, reject, calling_invite, join, quit, end, call,
// history and heartbeat; they act as the connection's user, and accept,
// reject, join, quit and end from its device. calling_invite, unlike
// PROTOCOL.md's, takes no data and names no device: call.CallingInvite
// has neither (its invitees get the call's data). Fields an op does not
// take, and unknown fields, are ignored; names are case-sensitive
// ("Invitees" is an unknown field); a field the server reads, or one of
// the push's, may not stand twice in one object (bad_request). "call" answers call_not_found to a
// user who is not a member, as every command on the call does (G10).
//
// Error codes are call.Code's (not_pending, call_not_found, …) and three
// of the server's own: bad_request (a frame that is not a JSON request: not
// JSON, not valid UTF-8, a binary frame, a type other than "request", no
// or an unknown op, a field of the wrong type, an unknown mode, a negative
// timeout_ms; the reply carries the id when it was a string that could be
// read; nothing is done; the connection stays open), rate_limited
// (below) and internal (the command was done, but its result cannot be
// written as JSON: a time past the year 9999, say); in a cluster, two more: unavailable (no leader could
// be reached, or, for a call or history query, this node could not catch
// up with it in time: nothing was done, retry) and uncertain (the leader
// lost its leadership, or could not be heard, after the command was
// sent: it may or may not have taken effect; see Cluster).
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
//   - Its frames wait in a send queue of 256. The hello and the login's
//     replays, however many invitations ring for the user, go out first,
//     outside it. The Registry's Sink only ever tries to queue a
//     frame, never waits: a client that lets its queue fill is
//     disconnected at once, without a close frame, and logged out.
//   - It may send 20 requests a second, in bursts of 40. A request over
//     that is not run and gets the error rate_limited; a connection that
//     gets more than 10 of those at once (it regains one a second) is
//     closed with 1008 "rate limit exceeded".
//   - With -heartbeat, a connection that sends no heartbeat within the
//     timeout is closed with 4001 "heartbeat timeout", as its device is
//     logged out by the Registry (H5). Only the heartbeat op (and the
//     connection's opening) counts. A heartbeat that finds the
//     connection's device logged out while it stayed open (in a cluster,
//     by a Logout of its former connection that another node forwarded
//     and that committed after this connection's login) logs it in
//     again, with the replays of what still rings for it.
//
// # Cluster
//
// With -node and -peers the server is one node of a cluster: the
// Registry is replicated on hashicorp/raft (package replica), its journal
// is the raft log (raft-boltdb) and its snapshots raft's, in DIR/raft
// under -data. Three nodes on one machine, each command in its own
// terminal (or callsigd/cluster.sh, which runs the three):
//
//	P=n1=127.0.0.1:7001=127.0.0.1:8081,n2=127.0.0.1:7002=127.0.0.1:8082,n3=127.0.0.1:7003=127.0.0.1:8083
//	go run ./callsigd -node n1 -peers $P -data /tmp/callsigd/n1
//	go run ./callsigd -node n2 -peers $P -data /tmp/callsigd/n2
//	go run ./callsigd -node n3 -peers $P -data /tmp/callsigd/n3
//
// Every node is given the same -peers; -addr defaults to the node's HTTP
// address there. A node whose -data holds no raft state bootstraps the
// cluster with every peer as a voter (every node does so, with the same
// servers, which raft takes as one configuration); one with state
// rejoins its cluster by itself, whatever -peers says of membership,
// which this version does not change: the peers' list only gives the
// nodes' HTTP addresses. -checkpoint-entries is raft's snapshot
// threshold. A single server's journal in -data is not read in a cluster.
// raft's log entries say their format, and a node never applies one newer
// than its own: it stops instead (see package replica, Upgrades), so a node
// left on an older build cannot make its replica differ from the others'.
// The nodes' internal requests name their format in their paths, and a
// change of format takes new paths: a command forwarded between nodes of
// two builds that disagree on it gets unavailable, having done nothing,
// until the leader runs the follower's build. A rolling upgrade across
// such a change is safe, then, but not seamless.
//
// Every node takes WebSocket clients and applies every committed entry to
// its replica; the events go to the devices connected to it, and offline
// pushes are sent by the node that proposed the entry (the leader), once.
// A command runs on the leader: a follower forwards it, with its client's
// user and device, to the leader's internal endpoint (package
// internal/cluster), waits until its own replica has what the leader had
// when it answered — so the command's events reach its clients before
// the reply, and the call and history ops see it — and replies on the
// client's connection. Login, Logout, Heartbeat and Replay, the server's
// own commands, go the same way. The call and history ops read at least
// everything the cluster had committed when they were asked, whichever
// node a client is on (a read barrier): the node has the leader propose
// a barrier entry, which commits only with a majority, and waits until
// its own replica has applied what the leader had then. They so see
// every command any client was answered for. A barrier costs a raft
// round trip: a log entry, written to disk by a majority of the nodes.
// Concurrent queries share barriers: a node has one under way at most,
// and the next, which starts once that one has ended, serves every query
// that arrived on the node meanwhile, however many; the leader shares the
// barriers the nodes ask of it the same way, one entry for all those
// asked while its previous one was under way. A query is never served by
// a barrier that started before it was asked, so it waits for two of its
// node's barriers at most, each of which may wait for two of the
// leader's.
// While no leader can be reached the queries wait for one as a
// command does, then get unavailable: never an answer from a replica
// that may be stale.
//
// While no leader is known, or the one known cannot be reached, a command
// waits for one, 3 s at most: then it gets unavailable, and nothing was
// done. A command that reached a leader which lost its leadership before
// the entry was known to be committed, or whose answer was lost once it
// was sent, gets uncertain: it may or may not have taken effect, and may
// yet take effect after a later query (its request may still be on its
// way to the leader). The sure way to settle it is to retry it: a retry
// that the Registry answers as before (an invite with the same call_id,
// H4) or refuses if it was done (as an accept is). The call op tells
// only what has taken effect by then: a call it finds was made. A
// connection whose login cannot reach a leader is closed with 1013 (try
// again later), before any hello. The nodes sign their requests to each
// other with a key derived from -secret-file's; in dev mode both that key
// and the tokens' are derived from -peers, so that every node takes every
// node's tokens, and anyone who knows -peers has them (dev mode mints
// tokens for anyone anyway). Raft's own transport authenticates nobody:
// the raft addresses must be reachable by the nodes only (in dev mode,
// they must be loopback ones, unless -insecure-dev).
//
// A device belongs to the node its connection is on. One that connects to
// another node takes its device over: the first node closes its
// connection with 4000 (replaced) without logging the device out, and the
// new connection gets the replays (G8, A7) of a device online.
// Connections of one device opened at once on several nodes leave exactly
// one open across the cluster, the newest by the stamp its node gave it
// as it opened (the node's clock, but later than any connection of the
// device the node had heard of, then the node's ID): each other is closed
// with 4000, before its hello if it had none yet. A new
// connection waits, 3 s at most, until its node has applied what the
// other nodes had: a node that is behind (one restarted replays its log)
// passes it no event made before it opened. A node so far behind that
// the leader sends it its snapshot (after a partition, say) never makes
// the events of the entries the snapshot covers: it closes every
// connection it has with 1012 (service restart), without logging the
// devices out, and their clients reconnect and get their replays. The
// devices of a node that dies, or stops, stay online in the cluster until
// their heartbeat lapses: in a cluster -heartbeat is always on (30 s
// unless given; 0 is refused), a client's heartbeat op is a replicated
// Heartbeat, and the leader's clock logs out a device whose last
// heartbeat is older than the timeout (H5), whereupon G7 cancels its
// user's unanswered calls. A client of a dead node that reconnects to
// another within the timeout is online all along and gets its replays.
// A node that stops on SIGINT or SIGTERM leaves its devices online the
// same way (their clients reconnect elsewhere), after handing its
// leadership, if it leads, to another node; and a logout that can reach
// no leader leaves its device to the same heartbeat rule.
//
// Across the death of a node, while a majority is up:
//
//   - Every command a client was answered for (a reply with a result or
//     a call's error code) is committed: it survives, and every call any
//     client was told about is still there with its deadline, which fires
//     once, on the new leader's clock. Seq numbers go on.
//   - A command in flight when the leader died gets uncertain or
//     unavailable (see above), or no reply at all if the client's own
//     node died: the client learns the outcome by a retry, from the
//     replays when it reconnects, or, for what has taken effect, from
//     the call op.
//   - Events are delivered at most once to a connection, in Seq order per
//     call. A client whose node died misses the events made while it was
//     disconnected; reconnecting (to any node) it gets the replays: every
//     invitation still pending for it, and the state of its advanced
//     calls. Other events (an accept, a cancel) made meanwhile are not
//     sent again.
//   - An offline push is sent at most once: by the leader that proposed
//     the entry, after the commit; one whose leader died before applying
//     it is lost.
//   - The devices of the dead node stay online for up to the heartbeat
//     timeout (their calls ring on), then are logged out.
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
