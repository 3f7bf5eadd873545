package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Config is one run: the same clients against callsigd, then against
// callsigd -data and a cluster of callsigd nodes if asked, then against
// the echo.
type Config struct {
	Clients  int           // WebSocket clients, in pairs; 0: 2,000
	Duration time.Duration // measured time per server; 0: 10 s
	Warmup   time.Duration // lifecycles before the measured time, not counted; 0: 1 s

	// Addr is a callsigd server to load (host:port, dev mode, plain
	// HTTP); "": one started in this process. Memory per idle
	// connection is measured only in this process's own server.
	Addr string

	// Data, if set, adds a phase against a callsigd server with -data in
	// this process, after callsigd's and before the echo's: its journal
	// and snapshots go to a new directory under Data, on the disk Data is
	// on (fsync and all), removed at the end of the run.
	Data string

	// Cluster, with Data, adds a phase against a cluster of three
	// callsigd nodes in this process, after the -data phase: raft on
	// loopback TCP, each node's raft log and snapshots (bolt files, fsync
	// and all) in a new directory under Data, removed at the end of the
	// run. A client connects to one of the three nodes, a third of them
	// to each.
	Cluster bool

	// CheckpointEntries is the -data server's and the cluster nodes'
	// -checkpoint-entries; 0: 10,000, callsigd's default.
	CheckpointEntries uint64

	// RateLimit keeps the in-process servers' per-connection request
	// limit (20 a second, bursts of 40); without it the limit is lifted.
	RateLimit bool

	// IdleMemory measures the memory of idle connections on each server
	// before the load (see ChildMain, which the running executable's
	// main or TestMain must call).
	IdleMemory bool

	// CPUProfile, if set, gets a CPU profile of this process over
	// callsigd's measured time.
	CPUProfile io.Writer

	// Log, if set, gets a line at each step.
	Log io.Writer
}

// Result is what one server did over the measured time.
type Result struct {
	Server     string
	Clients    int
	Lifecycles int           // completed within the measured time
	Duration   time.Duration // the measured time
	PerSecond  float64
	P50, P99   time.Duration
	Max        time.Duration
	Errors     int    // error replies, unexpected frames, failed connections, lifecycles not done in time
	FirstError string // the first of them, if any
}

// Report is one run.
type Report struct {
	Callsigd, Echo Result
	// Throughput and P99 are callsigd's throughput and p99 over the echo's.
	Throughput, P99 float64
	// Durable is the phase against callsigd -data (Config.Data), nil
	// without one; DurableThroughput and DurableP99 are its throughput
	// and p99 over the echo's.
	Durable                       *Result
	DurableThroughput, DurableP99 float64
	// Cluster is the phase against the cluster (Config.Cluster), nil
	// without one. ClusterThroughput and ClusterP99 are its throughput
	// and p99 over the -data phase's (one node, durable, the same load);
	// ClusterEchoThroughput and ClusterEchoP99 over the echo's.
	Cluster                               *Result
	ClusterThroughput, ClusterP99         float64
	ClusterEchoThroughput, ClusterEchoP99 float64
	// ClusterLeader is the node that led when the cluster's clients
	// began to connect, and ClusterElections how many raft terms began
	// from then until they had all closed (0: it led throughout).
	ClusterLeader    string
	ClusterElections uint64
	// Memory per idle connection, when measured (nil otherwise).
	CallsigdIdle, EchoIdle *Memory
	// NoFile is the open-files limit the run had (RLIMIT_NOFILE, raised to
	// its hard limit if that was needed), and NoFileRaised whether it was.
	NoFile       uint64
	NoFileRaised bool
	// RequestBytes and DownBytes are the sizes of the calibration
	// lifecycle's frames: invite and accept up; down, A's reply and
	// InvitationCreated, B's InvitationReceived, B's reply and
	// UserStateChanged, A's InvitationAccepted.
	RequestBytes [2]int
	DownBytes    [6]int
}

// lifecycleTimeout bounds one lifecycle: a pair whose lifecycle takes
// longer counts an error and stops.
const lifecycleTimeout = 30 * time.Second

// Run runs cfg.
func Run(cfg Config) (*Report, error) {
	if cfg.Clients == 0 {
		cfg.Clients = 2000
	}
	if cfg.Clients < 2 || cfg.Clients%2 != 0 {
		return nil, fmt.Errorf("loadtest: %d clients: need an even number, at least 2", cfg.Clients)
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = time.Second
	}
	if cfg.CheckpointEntries == 0 {
		cfg.CheckpointEntries = 10000
	}
	if cfg.Cluster && cfg.Data == "" {
		return nil, errors.New("loadtest: a cluster needs Data, for its nodes' raft stores")
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	rep := &Report{}
	var err error
	// The server's and the clients' sides of every connection, the
	// calibration pair and the idle-memory child's included.
	if rep.NoFile, rep.NoFileRaised, err = raiseNoFile(uint64(2*cfg.Clients + 256)); err != nil {
		return nil, err
	}

	var cs *target
	if cfg.Addr == "" {
		if cs, err = startCallsigd(!cfg.RateLimit, "", 0); err != nil {
			return nil, err
		}
	} else {
		cs = remoteCallsigd(cfg.Addr)
	}
	defer cs.close()
	fr, err := calibrate(cs, cfg.Clients, rep)
	if err != nil {
		return nil, fmt.Errorf("loadtest: calibration on callsigd: %w", err)
	}
	ec, err := startEcho(fr)
	if err != nil {
		return nil, err
	}
	defer ec.close()

	if cfg.IdleMemory && cfg.Addr == "" {
		for _, t := range []*target{cs, ec} {
			logf("idle memory: %s, %d connections", t.name, cfg.Clients)
			m, err := IdleMemory(t, cfg.Clients)
			if err != nil {
				return nil, fmt.Errorf("loadtest: idle memory of %s: %w", t.name, err)
			}
			if t == cs {
				rep.CallsigdIdle = m
			} else {
				rep.EchoIdle = m
			}
		}
	}

	logf("load: callsigd, %d clients, %v", cfg.Clients, cfg.Duration)
	if rep.Callsigd, err = phase(cs, cfg, cfg.CPUProfile); err != nil {
		return nil, err
	}
	if cfg.Data != "" {
		if rep.Durable, err = durablePhase(cfg, logf); err != nil {
			return nil, err
		}
	}
	if cfg.Cluster {
		if err = clusterPhase(cfg, rep, logf); err != nil {
			return nil, err
		}
	}
	logf("load: echo, %d clients, %v", cfg.Clients, cfg.Duration)
	if rep.Echo, err = phase(ec, cfg, nil); err != nil {
		return nil, err
	}
	rep.Throughput, rep.P99 = ratios(rep.Callsigd, rep.Echo)
	if rep.Durable != nil {
		rep.DurableThroughput, rep.DurableP99 = ratios(*rep.Durable, rep.Echo)
	}
	if rep.Cluster != nil {
		rep.ClusterThroughput, rep.ClusterP99 = ratios(*rep.Cluster, *rep.Durable)
		rep.ClusterEchoThroughput, rep.ClusterEchoP99 = ratios(*rep.Cluster, rep.Echo)
	}
	return rep, nil
}

// clusterPhase starts the cluster, its nodes' raft stores in a new
// directory under cfg.Data, runs the load against it, and stops it and
// removes the directory.
func clusterPhase(cfg Config, rep *Report, logf func(string, ...any)) error {
	dir, err := os.MkdirTemp(cfg.Data, "callsigd-load-cluster-")
	if err != nil {
		return fmt.Errorf("loadtest: cluster: %w", err)
	}
	defer os.RemoveAll(dir)
	ct, err := startCluster(!cfg.RateLimit, dir, cfg.CheckpointEntries)
	if err != nil {
		return err
	}
	defer ct.close()
	leader, term := ct.state()
	logf("load: callsigd cluster of %d nodes (leader %s), raft in %s, %d clients, %v", len(ct.nodes), leader, dir, cfg.Clients, cfg.Duration)
	res, err := phase(ct.target, cfg, nil)
	if err != nil {
		return err
	}
	_, after := ct.state()
	rep.Cluster, rep.ClusterLeader, rep.ClusterElections = &res, leader, after-term
	return nil
}

// durablePhase starts callsigd -data in a new directory under cfg.Data,
// runs the load against it, and stops it and removes the directory.
func durablePhase(cfg Config, logf func(string, ...any)) (*Result, error) {
	dir, err := os.MkdirTemp(cfg.Data, "callsigd-load-")
	if err != nil {
		return nil, fmt.Errorf("loadtest: -data: %w", err)
	}
	defer os.RemoveAll(dir)
	ds, err := startCallsigd(!cfg.RateLimit, dir, cfg.CheckpointEntries)
	if err != nil {
		return nil, fmt.Errorf("loadtest: callsigd -data %s: %w", dir, err)
	}
	defer ds.close()
	logf("load: callsigd -data %s, %d clients, %v", dir, cfg.Clients, cfg.Duration)
	res, err := phase(ds, cfg, nil)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// ratios are r's throughput and p99 over base's (0 for a base with
// none).
func ratios(r, base Result) (throughput, p99 float64) {
	if base.PerSecond > 0 {
		throughput = r.PerSecond / base.PerSecond
	}
	if base.P99 > 0 {
		p99 = float64(r.P99) / float64(base.P99)
	}
	return throughput, p99
}

// frame is what a client reads of every frame.
type frame struct {
	Type   string `json:"type"`
	Kind   string `json:"kind"`
	CallID string `json:"call_id"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decode(b []byte) (frame, error) {
	var f frame
	err := json.Unmarshal(b, &f)
	return f, err
}

// dial connects a client for user to t and reads its hello.
func dial(ctx context.Context, t *target, user string) (*websocket.Conn, []byte, error) {
	u, err := t.url(user)
	if err != nil {
		return nil, nil, err
	}
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, nil, err
	}
	_, hello, err := ws.Read(ctx)
	if err == nil {
		var f frame
		if f, err = decode(hello); err == nil && f.Type != "hello" {
			err = fmt.Errorf("first frame %s is not a hello", hello)
		}
	}
	if err != nil {
		_ = ws.CloseNow()
		return nil, nil, err
	}
	return ws, hello, nil
}

func inviteFrame(id int, invitee string) []byte {
	return []byte(`{"type":"request","id":"` + strconv.Itoa(id) + `","op":"invite","invitees":["` + invitee + `"],"timeout_ms":60000}`)
}

func answerFrame(id int, accept bool, callID string) []byte {
	op := "accept"
	if !accept {
		op = "reject"
	}
	return []byte(`{"type":"request","id":"` + strconv.Itoa(id) + `","op":"` + op + `","call_id":"` + callID + `"}`)
}

// readN reads n frames.
func readN(ctx context.Context, ws *websocket.Conn, n int) ([][]byte, error) {
	var out [][]byte
	for range n {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
	return out, nil
}

// calibrate runs an accepted and a rejected lifecycle on callsigd with
// a pair of users beyond the clients' (of the same width), checks what
// each side reads, and keeps the frames for the echo.
func calibrate(t *target, clients int, rep *Report) (*canned, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lifecycleTimeout)
	defer cancel()
	a, hello, err := dial(ctx, t, userName(clients))
	if err != nil {
		return nil, err
	}
	defer a.CloseNow()
	b, _, err := dial(ctx, t, userName(clients+1))
	if err != nil {
		return nil, err
	}
	defer b.CloseNow()
	fr := &canned{hello: hello}
	kinds := func(fs [][]byte) string {
		var s []string
		for _, b := range fs {
			f, _ := decode(b)
			if f.Error != nil {
				s = append(s, "error "+f.Error.Code)
			} else {
				s = append(s, f.Type+" "+f.Kind)
			}
		}
		slices.Sort(s)
		return fmt.Sprint(s)
	}
	expect := func(fs [][]byte, err error, want string) error {
		if err != nil {
			return err
		}
		if got := kinds(fs); got != want {
			return fmt.Errorf("read %s, want %s", got, want)
		}
		return nil
	}
	for i, accept := range []bool{true, false} {
		inv := inviteFrame(i, userName(clients+1))
		if err := a.Write(ctx, websocket.MessageText, inv); err != nil {
			return nil, err
		}
		toA, err := readN(ctx, a, 2)
		if err := expect(toA, err, "[event InvitationCreated reply ]"); err != nil {
			return nil, fmt.Errorf("inviter after invite: %w", err)
		}
		toB, err := readN(ctx, b, 1)
		if err := expect(toB, err, "[event InvitationReceived]"); err != nil {
			return nil, fmt.Errorf("invitee after invite: %w", err)
		}
		f, _ := decode(toB[0])
		ans := answerFrame(i, accept, f.CallID)
		if err := b.Write(ctx, websocket.MessageText, ans); err != nil {
			return nil, err
		}
		toB2, err := readN(ctx, b, 2)
		if err := expect(toB2, err, "[event UserStateChanged reply ]"); err != nil {
			return nil, fmt.Errorf("invitee after answer: %w", err)
		}
		toA2, err := readN(ctx, a, 1)
		want := "[event InvitationAccepted]"
		if !accept {
			want = "[event InvitationRejected]"
		}
		if err := expect(toA2, err, want); err != nil {
			return nil, fmt.Errorf("inviter after answer: %w", err)
		}
		if accept {
			fr.inviteToA, fr.inviteToB, fr.acceptToB, fr.acceptToA = toA, toB, toB2, toA2
			rep.RequestBytes = [2]int{len(inv), len(ans)}
			replyFirst := func(fs [][]byte) [][]byte {
				if f, _ := decode(fs[1]); f.Type == "reply" {
					return [][]byte{fs[1], fs[0]}
				}
				return fs
			}
			a2, b2 := replyFirst(toA), replyFirst(toB2)
			for j, f := range [][]byte{a2[0], a2[1], toB[0], b2[0], b2[1], toA2[0]} {
				rep.DownBytes[j] = len(f)
			}
		} else {
			fr.rejectToB, fr.rejectToA = toB2, toA2
		}
	}
	return fr, nil
}

// errs counts a phase's errors and keeps the first.
type errs struct {
	n     atomic.Int64
	once  sync.Once
	first string
}

func (e *errs) add(format string, args ...any) {
	e.n.Add(1)
	e.once.Do(func() { e.first = fmt.Sprintf(format, args...) })
}

// phase connects cfg.Clients clients to t, runs lifecycles in pairs for
// cfg.Warmup and cfg.Duration, and closes them.
func phase(t *target, cfg Config, profile io.Writer) (Result, error) {
	res := Result{Server: t.name, Clients: cfg.Clients, Duration: cfg.Duration}
	var e errs
	conns := make([]*websocket.Conn, cfg.Clients)
	{
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		next := atomic.Int64{}
		var wg sync.WaitGroup
		var dialErr error
		var mu sync.Mutex
		for range 32 {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(conns) {
						return
					}
					ws, _, err := dial(ctx, t, userName(i))
					if err != nil {
						mu.Lock()
						dialErr = errors.Join(dialErr, fmt.Errorf("client %d: %w", i, err))
						mu.Unlock()
						cancel()
						return
					}
					conns[i] = ws
				}
			})
		}
		wg.Wait()
		cancel()
		if dialErr != nil {
			for _, c := range conns {
				if c != nil {
					_ = c.CloseNow()
				}
			}
			return res, fmt.Errorf("loadtest: connecting to %s: %w", t.name, dialErr)
		}
	}

	var (
		stopping atomic.Bool // the connections are being closed: read errors are expected
		pending  atomic.Int64
		wgA, wgB sync.WaitGroup
		startAt  = time.Now()
		measure  = startAt.Add(cfg.Warmup)
		end      = measure.Add(cfg.Duration)
		lat      = make([][]time.Duration, cfg.Clients/2)
	)
	for p := range cfg.Clients / 2 {
		a, b := conns[2*p], conns[2*p+1]
		wgB.Go(func() { runB(b, &stopping, &pending, &e) })
		wgA.Go(func() { lat[p] = runA(a, userName(2*p+1), measure, end, &e) })
	}
	if profile != nil {
		time.Sleep(time.Until(measure))
		if err := pprof.StartCPUProfile(profile); err != nil {
			return res, err
		}
		time.Sleep(time.Until(end))
		pprof.StopCPUProfile()
	}
	// Every A ends within lifecycleTimeout of end; then B's last replies
	// come in, and the connections close.
	wgA.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for pending.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := pending.Load(); n > 0 {
		e.add("%d answers got no reply", n)
	}
	stopping.Store(true)
	for _, c := range conns {
		_ = c.CloseNow()
	}
	wgB.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res.Lifecycles = len(all)
	res.PerSecond = float64(len(all)) / cfg.Duration.Seconds()
	if len(all) > 0 {
		res.P50 = all[len(all)/2]
		res.P99 = all[min(len(all)-1, len(all)*99/100)]
		res.Max = all[len(all)-1]
	}
	res.Errors = int(e.n.Load())
	res.FirstError = e.first
	return res, nil
}

// runA is the inviter of a pair: lifecycles one after the other until
// end; it returns the latencies of those completed in [measure, end).
func runA(ws *websocket.Conn, peer string, measure, end time.Time, e *errs) []time.Duration {
	var lat []time.Duration
	for k := 0; ; k++ {
		began := time.Now()
		if !began.Before(end) {
			return lat
		}
		ctx, cancel := context.WithTimeout(context.Background(), lifecycleTimeout)
		err := lifecycle(ctx, ws, k, peer)
		cancel()
		if err != nil {
			e.add("inviter %s lifecycle %d: %v", peer, k, err)
			return lat
		}
		if done := time.Now(); !began.Before(measure) && done.Before(end) {
			lat = append(lat, done.Sub(began))
		}
	}
}

// lifecycle is the k-th lifecycle of a pair, from A's side: invite, then
// read until the reply and the answer are in. B accepts even ones.
func lifecycle(ctx context.Context, ws *websocket.Conn, k int, peer string) error {
	if err := ws.Write(ctx, websocket.MessageText, inviteFrame(k, peer)); err != nil {
		return err
	}
	want := "InvitationAccepted"
	if k%2 == 1 {
		want = "InvitationRejected"
	}
	var replied, answered bool
	for !replied || !answered {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		f, err := decode(b)
		switch {
		case err != nil:
			return fmt.Errorf("frame %s: %w", b, err)
		case f.Type == "reply" && f.Error != nil:
			return fmt.Errorf("invite: %s: %s", f.Error.Code, f.Error.Message)
		case f.Type == "reply":
			replied = true
		case f.Type == "event" && f.Kind == want:
			answered = true
		case f.Type == "event" && f.Kind == "InvitationCreated":
		default:
			return fmt.Errorf("unexpected frame %s", b)
		}
	}
	return nil
}

// runB is the invitee of a pair: it answers every InvitationReceived,
// accepting the even ones, until its connection is closed.
func runB(ws *websocket.Conn, stopping *atomic.Bool, pending *atomic.Int64, e *errs) {
	ctx := context.Background()
	for k := 0; ; {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if !stopping.Load() {
				e.add("invitee: %v", err)
			}
			return
		}
		f, err := decode(b)
		switch {
		case err != nil:
			e.add("invitee: frame %s: %v", b, err)
		case f.Type == "event" && f.Kind == "InvitationReceived":
			pending.Add(1)
			if err := ws.Write(ctx, websocket.MessageText, answerFrame(k, k%2 == 0, f.CallID)); err != nil {
				if !stopping.Load() {
					e.add("invitee: write: %v", err)
				}
				return
			}
			k++
		case f.Type == "reply":
			pending.Add(-1)
			if f.Error != nil {
				e.add("invitee: answer: %s: %s", f.Error.Code, f.Error.Message)
			}
		case f.Type == "event" && f.Kind == "UserStateChanged":
		default:
			e.add("invitee: unexpected frame %s", b)
		}
	}
}
