package replica_test

import (
	"errors"
	"testing"
	"time"

	"github.com/callsig/callsig/callsigd/replica"
	"github.com/hashicorp/raft"
)

// TestTransportDoesNotPipeline: the transport NewTCPTransport gives
// refuses raft's pipelined replication, which can stop replicating to a
// follower for good after a failed request (TestPartitionedMinority never
// sees the healed follower catch up with raft's default transport).
func TestTransportDoesNotPipeline(t *testing.T) {
	trans, err := replica.NewTCPTransport("127.0.0.1:0", nil, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	if _, err := trans.AppendEntriesPipeline("n1", trans.LocalAddr()); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline = %v, want ErrPipelineReplicationNotSupported", err)
	}
}
