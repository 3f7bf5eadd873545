// Callsigd-load measures callsigd under load against the transport's own
// limit: N WebSocket clients on loopback run invite/accept and
// invite/reject lifecycles in pairs against a callsigd server, then the
// same exchange against a bare WebSocket relay of the same messages, in
// one run, and it reports lifecycles a second, p50, p99 and max latency
// of each and their ratios, and the memory an idle connection costs each
// server. See package internal/loadtest for what a lifecycle is and how
// the echo models it. With -data DIR it also loads a callsigd server with
// -data (its journal in a new directory under DIR, fsync and group
// commit as the daemon has them) between the two, in the same run; with
// -cluster as well, then a cluster of three callsigd nodes in this
// process (raft over loopback TCP, each node's raft log and snapshots in
// a new directory under DIR), its clients spread over the three nodes.
//
// From the repository root:
//
//	go run ./callsigd/cmd/callsigd-load [-clients 2000] [-duration 10s]
//
// Flags:
//
//	-clients N        WebSocket clients, in pairs (default 2000)
//	-duration D       measured time per server (default 10s)
//	-warmup D         lifecycles before it, not counted (default 1s)
//	-addr HOST:PORT   load a callsigd server there (dev mode) instead of one
//	                  in this process; no memory figures then
//	-data DIR         also load a callsigd server with -data in this process,
//	                  its journal in a new directory under DIR (removed after)
//	-cluster          with -data: also load a cluster of three callsigd nodes
//	                  in this process, their raft stores under DIR (removed after)
//	-checkpoint-entries N   that server's and those nodes' -checkpoint-entries
//	                  (default 10000)
//	-rate-limit       keep the in-process servers' per-connection request
//	                  limit (default: lifted)
//	-no-memory        skip the idle-connection memory measure
//	-cpuprofile FILE  a CPU profile of this process over callsigd's measured time
//
// It raises its open-files limit (RLIMIT_NOFILE) to the hard limit when
// the soft one is too low for the clients and the server's side of
// their connections, and says so.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/callsig/callsig/callsigd/internal/loadtest"
)

func main() {
	loadtest.ChildMain()
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "callsigd-load:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callsigd-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadtest.Config
	fs.IntVar(&cfg.Clients, "clients", 2000, "WebSocket clients, in pairs")
	fs.DurationVar(&cfg.Duration, "duration", 10e9, "measured time per server")
	fs.DurationVar(&cfg.Warmup, "warmup", 1e9, "lifecycles before the measured time, not counted")
	fs.StringVar(&cfg.Addr, "addr", "", "load the callsigd server at `HOST:PORT` (dev mode) instead of one in this process")
	fs.StringVar(&cfg.Data, "data", "", "also load a callsigd server with -data, its journal in a new directory under `DIR`")
	fs.BoolVar(&cfg.Cluster, "cluster", false, "with -data: also load a cluster of three callsigd nodes, their raft stores under -data's DIR")
	fs.Uint64Var(&cfg.CheckpointEntries, "checkpoint-entries", 10000, "the -data server's and the cluster nodes' -checkpoint-entries `N`")
	fs.BoolVar(&cfg.RateLimit, "rate-limit", false, "keep the in-process servers' per-connection request limit")
	noMemory := fs.Bool("no-memory", false, "skip the idle-connection memory measure")
	profile := fs.String("cpuprofile", "", "write a CPU profile of this process over callsigd's measured time to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.CheckpointEntries == 0 {
		return errors.New("-checkpoint-entries must be at least 1")
	}
	if cfg.Cluster && cfg.Data == "" {
		return errors.New("-cluster needs -data DIR: the nodes keep their raft stores under DIR")
	}
	cfg.IdleMemory = !*noMemory
	cfg.Log = stderr
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	rep, err := loadtest.Run(cfg)
	if err != nil {
		return err
	}
	loadtest.Print(stdout, rep)
	n := rep.Callsigd.Errors + rep.Echo.Errors
	for _, r := range []*loadtest.Result{rep.Durable, rep.Cluster} {
		if r != nil {
			n += r.Errors
		}
	}
	if n > 0 {
		return fmt.Errorf("%d errors", n)
	}
	return nil
}
