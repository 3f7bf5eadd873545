package loadtest

import (
	"fmt"
	"io"
	"time"
)

// Print writes rep as a few lines of text.
func Print(w io.Writer, rep *Report) {
	if rep.NoFileRaised {
		fmt.Fprintf(w, "open-files limit raised to %d (RLIMIT_NOFILE)\n", rep.NoFile)
	} else {
		fmt.Fprintf(w, "open-files limit %d (RLIMIT_NOFILE), not raised\n", rep.NoFile)
	}
	fmt.Fprintf(w, "lifecycle frames: up %v B (invite, answer); down %v B (A: reply, Created; B: Received; B: reply, UserStateChanged; A: Accepted)\n",
		rep.RequestBytes, rep.DownBytes)
	results := []Result{rep.Callsigd}
	for _, r := range []*Result{rep.Durable, rep.Cluster} {
		if r != nil {
			results = append(results, *r)
		}
	}
	results = append(results, rep.Echo)
	for _, r := range results {
		fmt.Fprintf(w, "%-16s %d clients: %8.0f lifecycles/s (%d in %v)  p50 %v  p99 %v  max %v  errors %d\n",
			r.Server, r.Clients, r.PerSecond, r.Lifecycles, r.Duration, ms(r.P50), ms(r.P99), ms(r.Max), r.Errors)
		if r.FirstError != "" {
			fmt.Fprintf(w, "                 first error: %s\n", r.FirstError)
		}
	}
	fmt.Fprintf(w, "callsigd/echo: throughput %.2fx, p99 %.2fx\n", rep.Throughput, rep.P99)
	if rep.Durable != nil {
		fmt.Fprintf(w, "callsigd -data/echo: throughput %.2fx, p99 %.2fx\n", rep.DurableThroughput, rep.DurableP99)
	}
	if rep.Cluster != nil {
		fmt.Fprintf(w, "callsigd cluster/-data: throughput %.2fx, p99 %.2fx\n", rep.ClusterThroughput, rep.ClusterP99)
		fmt.Fprintf(w, "callsigd cluster/echo: throughput %.2fx, p99 %.2fx\n", rep.ClusterEchoThroughput, rep.ClusterEchoP99)
		fmt.Fprintf(w, "cluster: leader %s when the clients connected; %d elections from then until they closed\n",
			rep.ClusterLeader, rep.ClusterElections)
	}
	for _, m := range []struct {
		name string
		m    *Memory
	}{{"callsigd", rep.CallsigdIdle}, {"echo", rep.EchoIdle}} {
		if m.m != nil {
			fmt.Fprintf(w, "idle connection, %-8s (%d connections): %.0f B (heap %.0f B, stacks %.0f B), %.2f goroutines\n",
				m.name, m.m.Conns, m.m.BytesPerConn, m.m.HeapPerConn, m.m.BytesPerConn-m.m.HeapPerConn, m.m.GoroutinesPerConn)
		}
	}
}

// ms rounds d to 10 µs, for reading.
func ms(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
