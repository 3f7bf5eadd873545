// Package loadtest measures callsigd under load against the transport's
// own limit: N WebSocket clients (github.com/coder/websocket, on
// loopback) run call lifecycles in pairs against a callsigd server, then
// the same clients run the same exchange of messages against a bare
// WebSocket relay, in the same run, so that the ratio of the two is what
// callsigd costs beyond moving the bytes.
//
// With Config.Data, a phase between the two runs the same load against a
// callsigd server with -data: the daemon's own durable.Store, its
// journal in a new directory on a real disk, every command waiting for
// the fsync that makes its entry durable (group commit: one fsync serves
// every command waiting meanwhile), checkpoints every -checkpoint-entries
// entries. Its ratio to the echo is what durability costs on top.
//
// With Config.Cluster as well, a phase after that one runs the same load
// against three callsigd nodes as one cluster, in this process, each set
// up by the daemon's own code for -node and -peers in dev mode
// (cluster.NewNode and Configure, raft's default configuration): raft's
// TCP transport on loopback ports, each node's raft log and snapshots
// (raft-boltdb, fsync and all) in its own new directory under Data, its
// HTTP server on its own port. The client of u<i> connects to node
// i mod 3: each node has a third of the clients, and the commands of the
// two thirds that are not on the leader are forwarded to it by their
// node. The nodes run in this process, as the -data server does, so
// that the two phases are measured alike: the clients and the servers
// share this process's cores in both, and the cluster's three replicas,
// raft and the forwarding between the nodes share them too. Its ratio to
// the -data phase is what replication costs over one durable node on the
// same machine; the report says which node led and whether a new term
// began during the phase.
//
// # The lifecycle
//
// Clients 2i and 2i+1 are a pair, A and B. A lifecycle: A sends invite
// (B alone, general mode); B, on reading InvitationReceived, sends accept
// (even lifecycles of the pair) or reject (odd ones); the lifecycle ends
// when A has read both its invite's reply and InvitationAccepted or
// InvitationRejected. Its latency is from A's write of the invite to A's
// read of the answer. Each pair has one lifecycle in flight at a time (a
// closed loop), so N/2 are in flight at once. On callsigd a lifecycle is
// two requests and six frames back:
//
//	A → invite          A ← reply, InvitationCreated    B ← InvitationReceived
//	B → accept/reject   B ← reply, UserStateChanged     A ← InvitationAccepted/Rejected
//
// # The echo
//
// The echo server is the same library's Accept and a read loop per
// connection that knows its connection's pair and nothing of calls: for
// each frame from A it writes two frames back to A and one to B, and for
// each frame from B two back to B and one to A, directly from the reading
// goroutine. The frames it writes are ones callsigd wrote to a
// calibration pair before the run (byte for byte, so of the same JSON
// sizes); it picks the reject frames for a frame that contains
// "reject", the accept ones otherwise. The client is the same code for
// both servers: it decodes every frame and acts on its type and kind, so
// a lifecycle on the echo is the same 2 messages up and 6 down, of the
// same sizes, through the same client.
//
// # Memory per idle connection
//
// IdleMemory opens N idle connections from a child process (the running
// executable again, told by an environment variable, see ChildMain), so
// that the server's process holds only the server's side, and reads
// runtime/metrics after a GC: heap objects plus goroutine stacks, and
// goroutines, with the N connections less without them.
package loadtest
