package replica

import (
	"io"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// NewTransport returns raft's network transport over stream as a Node
// needs it: with pipelined replication off (MaxRPCsInFlight 1), each
// AppendEntries answered before the next is sent.
//
// raft's pipeline, on by default, can stop replicating to a follower for
// good: when one of its AppendEntries fails while another is in flight (a
// partition, a timeout), its sender may block on the pipeline that its
// decoder has left, and no later entry reaches that follower while the
// leader lives; the leader's heartbeats still do, so the follower never
// stands for election either. Once healed, that replica stays behind, its
// devices without events. Without the pipeline the failed request is
// retried. timeout bounds each request's I/O; logs gets the transport's
// log lines (nil: none).
func NewTransport(stream raft.StreamLayer, timeout time.Duration, logs io.Writer) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(transportConfig(stream, timeout, logs))
}

// NewTCPTransport returns NewTransport over TCP: listening on bind, and
// telling its peers advertise (nil: the listener's address), which must
// not be an unspecified address.
func NewTCPTransport(bind string, advertise net.Addr, timeout time.Duration, logs io.Writer) (*raft.NetworkTransport, error) {
	return raft.NewTCPTransportWithConfig(bind, advertise, transportConfig(nil, timeout, logs))
}

func transportConfig(stream raft.StreamLayer, timeout time.Duration, logs io.Writer) *raft.NetworkTransportConfig {
	if logs == nil {
		logs = io.Discard
	}
	return &raft.NetworkTransportConfig{
		Stream:          stream,
		MaxPool:         3,
		MaxRPCsInFlight: 1,
		Timeout:         timeout,
		Logger:          hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: logs, Level: hclog.DefaultLevel}),
	}
}
