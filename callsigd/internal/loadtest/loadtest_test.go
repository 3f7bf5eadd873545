package loadtest

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	ChildMain() // IdleMemory's child is this test binary
	os.Exit(m.Run())
}

// TestSmoke runs the load generator briefly with few clients: every
// lifecycle on both servers completes, with no error, and the idle
// connections cost something on each.
func TestSmoke(t *testing.T) {
	var log bytes.Buffer
	rep, err := Run(Config{Clients: 50, Duration: time.Second, Warmup: 200 * time.Millisecond, IdleMemory: true, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	Print(&out, rep)
	t.Log("\n" + out.String())
	for _, r := range []Result{rep.Callsigd, rep.Echo} {
		if r.Errors != 0 {
			t.Errorf("%s: %d errors, the first: %s", r.Server, r.Errors, r.FirstError)
		}
		if r.Lifecycles == 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
			t.Errorf("%s: %d lifecycles, p50 %v, p99 %v, max %v", r.Server, r.Lifecycles, r.P50, r.P99, r.Max)
		}
	}
	for _, m := range []*Memory{rep.CallsigdIdle, rep.EchoIdle} {
		if m == nil || m.Conns != 50 || m.BytesPerConn <= 0 || m.GoroutinesPerConn < 1 {
			t.Errorf("idle memory %+v", m)
		}
	}
	for i, n := range append(rep.RequestBytes[:], rep.DownBytes[:]...) {
		if n == 0 {
			t.Errorf("calibration frame %d has no size", i)
		}
	}
}

// TestDurable runs the -data phase briefly: a callsigd server with its
// journal in a directory under Config.Data completes every lifecycle with
// no error, checkpoints included (one every 100 entries), and the
// directory is gone after the run.
func TestDurable(t *testing.T) {
	data := t.TempDir()
	var log bytes.Buffer
	rep, err := Run(Config{Clients: 20, Duration: 1500 * time.Millisecond, Warmup: 200 * time.Millisecond,
		Data: data, CheckpointEntries: 100, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	Print(&out, rep)
	t.Log("\n" + out.String())
	r := rep.Durable
	if r == nil {
		t.Fatal("no -data phase")
	}
	if r.Server != "callsigd -data" || r.Errors != 0 {
		t.Errorf("%s: %d errors, the first: %s", r.Server, r.Errors, r.FirstError)
	}
	if r.Lifecycles == 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
		t.Errorf("%s: %d lifecycles, p50 %v, p99 %v, max %v", r.Server, r.Lifecycles, r.P50, r.P99, r.Max)
	}
	if rep.DurableThroughput <= 0 || rep.DurableP99 <= 0 {
		t.Errorf("-data/echo ratios %.2f, %.2f", rep.DurableThroughput, rep.DurableP99)
	}
	if left, err := os.ReadDir(data); err != nil || len(left) != 0 {
		t.Errorf("left under Config.Data: %v, %v", left, err)
	}
}

// TestCluster runs the cluster phase briefly, in the same run as the
// -data phase: three nodes, their clients spread over the three, complete
// every lifecycle with no error, the ratios to the -data phase and to the
// echo are there, and the nodes' directories are gone after the run.
func TestCluster(t *testing.T) {
	data := t.TempDir()
	var log bytes.Buffer
	rep, err := Run(Config{Clients: 24, Duration: 1500 * time.Millisecond, Warmup: 200 * time.Millisecond,
		Data: data, Cluster: true, CheckpointEntries: 100, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	Print(&out, rep)
	t.Log("\n" + out.String())
	if rep.Durable == nil || rep.Cluster == nil {
		t.Fatalf("phases: -data %v, cluster %v", rep.Durable, rep.Cluster)
	}
	r := rep.Cluster
	if r.Server != "callsigd cluster" || r.Errors != 0 {
		t.Errorf("%s: %d errors, the first: %s", r.Server, r.Errors, r.FirstError)
	}
	if r.Lifecycles == 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
		t.Errorf("%s: %d lifecycles, p50 %v, p99 %v, max %v", r.Server, r.Lifecycles, r.P50, r.P99, r.Max)
	}
	if rep.ClusterThroughput <= 0 || rep.ClusterP99 <= 0 || rep.ClusterEchoThroughput <= 0 || rep.ClusterEchoP99 <= 0 {
		t.Errorf("cluster/-data ratios %.2f, %.2f; cluster/echo %.2f, %.2f",
			rep.ClusterThroughput, rep.ClusterP99, rep.ClusterEchoThroughput, rep.ClusterEchoP99)
	}
	if rep.ClusterLeader == "" {
		t.Error("no leader reported")
	}
	if left, err := os.ReadDir(data); err != nil || len(left) != 0 {
		t.Errorf("left under Config.Data: %v, %v", left, err)
	}
}

// A cluster phase needs Data, for the nodes' raft stores.
func TestClusterNeedsData(t *testing.T) {
	if _, err := Run(Config{Clients: 2, Cluster: true}); err == nil {
		t.Error("Run with Cluster and no Data: no error")
	}
}
