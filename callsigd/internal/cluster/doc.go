// Package cluster makes a callsigd server one node of a cluster: a
// replica.Node (a call.Registry replicated on hashicorp/raft) with what
// the server needs to front it (server.Backend, the claims of devices,
// the health check and the cluster's endpoints).
//
// # Commands go to the leader
//
// A Cluster's commands run on the leader. On the leader they run on its
// Node. On a follower they are forwarded: POST /v1/internal/command on the
// leader's HTTP address (from -peers) with the command as a call.Entry in
// JSON (the acting user and device are the connection's, which the
// follower authenticated); the leader runs it with replica.Node.Do, which
// forwards nothing further and fills in the entry's time, ID and Admit's
// answers itself, and answers with the call.Result or the error's code,
// and the index of the last entry it had applied. The follower then waits
// until its own replica has applied that index (bounded by Config.Wait),
// so that the command's events have reached its connections before the
// reply, and its queries (call, history) see the command, as on one
// server.
//
// While no leader is known, or the one known does not lead (it answers
// not_leader), or cannot be reached before the request is sent, nothing
// was done, and the command is tried again until Config.Wait has passed:
// then it fails with ErrUnavailable (code "unavailable"). A command that
// reached a leader that lost its leadership before the entry was known to
// be committed (replica.ErrUncertain), or whose answer was lost once the
// request was sent, fails with ErrUncertain (code "uncertain"): it may or
// may not have taken effect.
//
// # Reads see what was committed
//
// The server's call and history ops call ReadBarrier first, so that they
// read at least everything committed when they were asked, as on one
// server: the leader proposes a barrier entry (replica.Node.Barrier),
// which commits only with a majority (which proves that it still led) and
// which raft answers once every entry before it is applied; a follower
// asks for it by POST /v1/internal/barrier on the leader, which answers
// with the index of the last entry it had applied then, and waits until
// its own replica has applied that index. An entry a new leader
// inherited uncommitted is decided by then, but a command that got
// "uncertain" may not have reached a leader's log yet (its answer was
// lost, its request may still be on its way): a query that does not find
// it does not prove that it never takes effect; a retry does.
// ReadBarrier looks for a leader as a command does, and fails with
// ErrUnavailable after Config.Wait, as it does when this node's replica
// has not caught up by then.
//
// A barrier costs a raft round trip, and its entry counts toward the
// snapshot threshold; concurrent reads share one (coalescer). A node
// has at most one barrier under way for its reads: those that arrive
// meanwhile wait for the next, which starts once it has ended and serves
// them all; a barrier that started before a read arrived may have missed
// a command answered since, and never serves it. A read so waits for two
// barriers at most. The leader shares its own barriers the same way
// among its reads and the barrier requests of the others.
//
// # The internal endpoints
//
// The requests the nodes make of each other carry the caller's ID, the
// time, and an HMAC-SHA256 under Config.Key of the path, the ID, the time
// and the body; a node refuses, with 401 and unheard, one whose signature
// is not its key's, or whose time is more than 30 s from its clock. The
// key is the same on every node (callsigd derives it from -secret-file's
// key, or in dev mode from -peers, which is no secret: in dev mode anyone
// who reaches a node may act as anyone, as dev tokens already allow). A
// request captured on the way can be replayed within the 30 s: the nodes'
// HTTP should be on a private network, or over TLS.
//
// POST /v2/internal/release is a claim: a device connected to another
// node, by a connection with the stamp the claim carries (server.Stamp: a
// hybrid logical clock's time and the node's ID). The node that receives
// it closes its own connection of the device if it is older, without
// logging it out (Config.Release, the server's Release), and answers with
// the index of the last entry it had applied, and the stamp of its own
// connection of the device if that is newer: the claiming node then
// closes its new connection instead. A node answers at once, without
// waiting for a claim of its own, and no node holds a lock while it
// claims; so two nodes whose connections of a device claim it from each
// other at once both decide by the stamps, and keep the same one. The
// claiming node waits until its own replica has applied the highest
// index answered (bounded by Config.Wait) before the new connection is
// the device's: the entries it applies while it catches up (a node
// restarted replays its log) made their events before the connection was
// opened, and those do not reach it.
package cluster
