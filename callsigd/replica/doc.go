// Package replica replicates a call.Registry on hashicorp/raft: every node
// of a cluster holds a replica of one Registry, changed only by the entries
// (call.Entry) the cluster has committed, so that every call survives the
// death of any minority of the nodes.
//
// # One state everywhere
//
// A Node's commands (Invite, Cancel, Accept, …) do not run on its replica:
// the Node, which must be the leader, turns each into a complete entry —
// its clock reading, the ID of a new call (Options.NewID, or
// call.NewCallID), Options.Admit's answers (call.AdmitAnswers) — proposes
// it, waits until it is committed and applied, and returns what the
// replica's call.Registry.ApplyResult returned. Every non-deterministic
// choice is so made once, by the proposer, and carried in the entry (C4,
// D1). A follower refuses commands with ErrNotLeader, having done nothing.
//
// Only the leader's clock makes time pass. A replica's own Registry runs on
// a clock whose timers never fire and that it never reads: an entry's
// instant is its At. The leader watches its replica's NextDue; when that
// instant comes on its clock (Options.Clock), it proposes an OpTick entry
// at its reading, like any other input, and each replica processes what
// fell due then. A deadline thus fires once, in the log, and every replica
// agrees on when. A command's entry also processes what fell due up to its
// At first (the Time rule), on every replica alike. After the same
// entries, Snapshot gives the same bytes on every node.
//
// # Events
//
// Each node hands the events its replica produces to its own Sink
// (Options.Sink): the devices connected to that node are its to serve. An
// event marked Offline (To had no online device anywhere in the cluster
// when it was made) is there only to be pushed; it goes to the Sink of one
// node only, the node that proposed the entry, which was the leader when it
// did, so that a push is sent once. Should that node die between the commit
// and its own apply, the push is lost, never sent twice; a node restarted
// and replaying its log sends none (the entry names the proposer's process,
// not only its ID).
//
// The Sink is called on raft's apply goroutine: Emit must not wait for a
// command of the same Node, which waits for that goroutine.
//
// A follower too far behind the leader for its log (raft's TrailingLogs)
// is sent the leader's snapshot instead, and its replica is replaced by
// it: the entries the snapshot covers are never applied there, and their
// events are never produced on that node. Config.Restored is called then,
// so that the node's users can catch up another way (callsigd closes the
// node's connections, and its clients get their replays, G8 and A7, on
// reconnecting).
//
// # Storage
//
// The raft log is the Registry's journal (Options.Journal must be nil).
// OpenStores gives raft-boltdb for the log and raft's file snapshot store,
// under one directory. A raft snapshot is the Registry's Snapshot (D2)
// after the index of the last entry it holds.
//
// # Upgrades
//
// Each log entry says the format it is written in. A node applies entries
// of its own format and of older ones. An entry of a newer format it
// neither applies nor refuses, since either would leave its replica unlike
// those of the nodes that know the format, which apply it: it panics, on
// raft's apply goroutine, which ends the process before anything after
// that entry is applied there, naming the entry and both formats. Started
// again on a build that knows the format, the node applies the entry and
// goes on from there. A node left on an older build during an upgrade can
// thus stop, never diverge. (A snapshot of a newer format is refused by
// call.Restore, which leaves the replica as it was.) A release that
// raises the format therefore first ships as one that applies it and
// still writes the old one; only the release after, once every node runs
// that, writes it: otherwise the followers left on the old build stop at
// the first entry a new leader writes, and with a majority of them, the
// cluster stops.
package replica
