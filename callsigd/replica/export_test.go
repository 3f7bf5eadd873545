package replica

import (
	"encoding/json"

	"github.com/callsig/callsig/call"
)

// Epoch returns the epoch n's process puts in the entries it proposes: a
// test tells a node's processes apart by it (the push rule).
func Epoch(n *Node) uint64 { return n.fsm.epoch }

// DecodeLog decodes a raft log entry's data as a Node proposes it: the
// proposing node, its process's epoch, and the entry.
func DecodeLog(data []byte) (node string, epoch uint64, e call.Entry, err error) {
	p, err := decodeProposal(data)
	return p.Node, p.Epoch, p.Entry, err
}

// EncodeLog encodes an entry as a Node proposes it, for a test that
// writes a log by hand.
func EncodeLog(node string, epoch uint64, e call.Entry) []byte {
	b, err := json.Marshal(newProposal(node, epoch, e))
	if err != nil {
		panic(err)
	}
	return b
}
