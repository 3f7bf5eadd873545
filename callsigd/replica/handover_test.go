package replica_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/callsig/callsig/clock"
	"github.com/hashicorp/raft"
)

// A command proposed while the leader hands its leadership over is
// refused by raft before it is appended: the Node says ErrNotLeader
// (nothing done, try the new leader), not ErrUncertain. The refusals
// are told by raft's message, which the Node's error keeps.
func TestHandoverRefusesAsNotLeader(t *testing.T) {
	ms := inmemCluster(t, 3, clock.NewManual(t0), call.Options{})
	var mu sync.Mutex
	var notLeader, uncertain int
	for round := 0; round < 20 && notLeader+uncertain == 0; round++ {
		leader := leaderOf(t, ms)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					err := leader.Heartbeat(fmt.Sprint("u", g), "web")
					if err == nil || !strings.Contains(err.Error(), raft.ErrLeadershipTransferInProgress.Error()) {
						continue // done, or refused for another reason (an entry in flight may be uncertain)
					}
					mu.Lock()
					switch {
					case errors.Is(err, replica.ErrNotLeader):
						notLeader++
					case errors.Is(err, replica.ErrUncertain):
						uncertain++
						t.Errorf("round %d: %v", round, err)
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		if err := leader.Raft().LeadershipTransfer().Error(); err != nil {
			t.Log(err)
		}
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
	if uncertain > 0 || notLeader == 0 {
		t.Fatalf("during a transfer: %d refused as not the leader, %d uncertain", notLeader, uncertain)
	}
}
