package journal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// The crash test (D1, D2, output commit): a child process runs a Registry
// recovered from a journal directory, with goroutines sending commands,
// the clock's timer firing and checkpoints compacting the journal; it
// prints every event it delivers and every Invite it acknowledges. The
// parent kills it with SIGKILL at a random point, recovers from the
// directory, and checks that
//
//   - every event a client received is in the recovered state: its call is
//     live with a Seq at least the event's, or over (in its caller's
//     history), and
//   - every acknowledged Invite's call is in the recovered state, live or
//     over, and
//   - the recovered state holds every entry the journal had reported
//     durable when any command was acknowledged: after each command that
//     returned without error, the child prints the journal's durable
//     index, and the recovered Registry's JournalIndex is at least the
//     largest printed. A command returns only once its own entry is
//     durable (output commit, which call's TestOutputCommit checks), so
//     with this no acknowledged command is lost.

const (
	crashDirEnv  = "CALLSIG_JOURNAL_CRASH_DIR"
	crashSeedEnv = "CALLSIG_JOURNAL_CRASH_SEED"
	crashRounds  = 8
)

// crashOptions are the child's Registry options, and the recovery's.
func crashOptions(clk clock.Clock) call.Options {
	return call.Options{Clock: clk, NewID: counterIDs(), History: 100000, HeartbeatTimeout: 2 * time.Second}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range crashRounds {
		seed := rng.Uint64()
		killAfter := 1 + rng.IntN(3000)
		within := time.Duration(20+rng.IntN(600)) * time.Millisecond
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			crashRound(t, seed, killAfter, within)
		})
	}
}

func crashRound(t *testing.T, seed uint64, killAfter int, within time.Duration) {
	dir := t.TempDir()
	// A second run recovers what the first left, so that the child also
	// starts from a journal with snapshots and compacted segments.
	for run := range 2 {
		observed, acked, durable := runChild(t, dir, seed+uint64(run), killAfter, within)
		r, j, err := Recover(dir, crashOptions(clock.NewManual(start)))
		if err != nil {
			t.Fatalf("seed %d run %d: recover: %v", seed, run, err)
		}
		snap, err := r.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Calls []struct {
				ID  string `json:"id"`
				Seq uint64 `json:"seq"`
			} `json:"calls"`
		}
		if err := json.Unmarshal(snap, &s); err != nil {
			t.Fatal(err)
		}
		live := map[string]uint64{}
		for _, c := range s.Calls {
			live[c.ID] = c.Seq
		}
		ended := map[string]bool{}
		for _, u := range users {
			cursor := ""
			for {
				infos, next, err := r.History(u, 100, cursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, in := range infos {
					ended[in.CallID] = true
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
		for _, e := range observed {
			if seq, ok := live[e.CallID]; ok {
				if seq < e.Seq {
					t.Fatalf("seed %d run %d: a client got %s #%d of %s; the recovered call is at #%d", seed, run, e.Kind, e.Seq, e.CallID, seq)
				}
			} else if !ended[e.CallID] {
				t.Fatalf("seed %d run %d: a client got %s #%d of %s; the recovered state does not know the call", seed, run, e.Kind, e.Seq, e.CallID)
			}
		}
		for _, id := range acked {
			if _, ok := live[id]; !ok && !ended[id] {
				t.Fatalf("seed %d run %d: the acknowledged Invite of %s is lost", seed, run, id)
			}
		}
		if got := r.JournalIndex(); got < durable {
			t.Fatalf("seed %d run %d: recovered %d entries; a command was acknowledged with %d durable", seed, run, got, durable)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runChild runs the child on dir until it has printed killAfter lines or
// within has passed, kills it, and returns the events it delivered and
// the call IDs of the Invites it acknowledged, and the largest durable
// index it printed after a command it acknowledged.
func runChild(t *testing.T, dir string, seed uint64, killAfter int, within time.Duration) (observed []events.Event, acked []string, durable uint64) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSeedEnv+"="+strconv.FormatUint(seed, 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := time.AfterFunc(within, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	watchdog := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() }) // never hang the suite
	defer watchdog.Stop()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		line := sc.Bytes()
		lines++
		if lines == killAfter {
			_ = cmd.Process.Kill() // SIGKILL: no deferred code, no flush, no goodbye
		}
		switch {
		case len(line) > 0 && line[0] == '{':
			var e events.Event
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatalf("child printed %q: %v", line, err)
			}
			observed = append(observed, e)
		case strings.HasPrefix(string(line), "ACK "):
			acked = append(acked, strings.TrimPrefix(string(line), "ACK "))
		case strings.HasPrefix(string(line), "DURABLE "):
			n, err := strconv.ParseUint(strings.TrimPrefix(string(line), "DURABLE "), 10, 64)
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			durable = max(durable, n)
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return observed, acked, durable
}

// TestCrashChild is the child of TestCrashRecovery; alone, it skips.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child process of TestCrashRecovery")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	var mu sync.Mutex
	print := func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = os.Stdout.Write(append(b, '\n'))
	}
	clk := clock.NewManual(start)
	o := crashOptions(clk)
	o.Sink = events.SinkFunc(func(e events.Event) {
		b, _ := json.Marshal(e)
		print(b)
	})
	var next atomic.Uint64 // call IDs go on past every one used before: each Invite is an entry
	o.NewID = func() string { return fmt.Sprintf("c%d", next.Add(1)) }
	r, j, err := Recover(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	next.Store(r.JournalIndex())
	// The clock goes on from where the recovered state stands.
	clk.Set(start.Add(time.Duration(r.JournalIndex()) * time.Millisecond * 50))
	go func() {
		for {
			clk.Advance(20 * time.Millisecond)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	go func() {
		for {
			if _, err := j.Checkpoint(r); err != nil {
				print([]byte("checkpoint: " + err.Error()))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for g := range 4 {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for {
				op, id, err := randomCommand(rng, r)
				if op == "invite" && err == nil {
					print([]byte("ACK " + id))
				}
				if err == nil && op != "login" && op != "logout" && op != "heartbeat" {
					print([]byte("DURABLE " + strconv.FormatUint(j.Durable(), 10)))
				}
			}
		}()
	}
	time.Sleep(time.Hour) // wait for the parent's SIGKILL
}
