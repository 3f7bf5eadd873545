package call_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/jsonl"
)

// The crash test (D1, D2): a child process runs a Registry with a file
// journal and prints every event it delivers; the parent kills it with
// SIGKILL at a random point, then recovers from the files the child left —
// a snapshot taken at a random step plus the journal written after it — and
// checks that
//
//   - every event the parent saw the child deliver is a prefix of what a
//     replay of the whole journal emits (nothing delivered was lost: the
//     journal is written before events go out), and
//   - recovering from snapshot + the journal after it reaches exactly the
//     state, and emits exactly the events, of the replay of the whole journal.

const (
	crashDirEnv  = "CALLSIG_CRASH_DIR"
	crashSeedEnv = "CALLSIG_CRASH_SEED"
	crashMarker  = "SNAPSHOT"
	crashDone    = "DONE" // the child ran every step and waits to be killed
)

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rounds := 12
	if s := os.Getenv("CALLSIG_CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range rounds {
		seed := rng.Uint64()
		killAfter := 1 + rng.IntN(400)
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			crashRound(t, seed, killAfter)
		})
	}
}

func crashRound(t *testing.T, seed uint64, killAfter int) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSeedEnv+"="+strconv.FormatUint(seed, 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var observed []events.Event
	watchdog := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() }) // never hang the suite
	defer watchdog.Stop()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	killed := false
	for sc.Scan() {
		line := sc.Bytes()
		if string(line) == crashDone && !killed {
			_ = cmd.Process.Kill()
			killed = true
		}
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e events.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("child printed %q: %v", line, err)
		}
		observed = append(observed, e)
		if len(observed) == killAfter && !killed {
			_ = cmd.Process.Kill() // SIGKILL: no deferred code, no flush, no goodbye
			killed = true
		}
	}
	if !killed {
		_ = cmd.Process.Kill()
	}
	_ = cmd.Wait()

	before, err := jsonl.Read(filepath.Join(dir, "before.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := jsonl.Read(filepath.Join(dir, "after.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	full := &events.Recorder{}
	whole, err := call.Recover(nil, append(append([]call.Entry(nil), before...), after...), call.Options{Clock: clk, Sink: full})
	if err != nil {
		t.Fatalf("recover from the whole journal: %v", err)
	}
	replayed := full.Take()
	if len(observed) > len(replayed) || !reflect.DeepEqual(normalize(observed), normalize(replayed[:len(observed)])) {
		t.Fatalf("seed %d: the %d events the child delivered are not a prefix of the %d the journal replays", seed, len(observed), len(replayed))
	}

	snap, err := os.ReadFile(filepath.Join(dir, "snap.json"))
	if os.IsNotExist(err) {
		return // killed before the snapshot: the whole journal is the recovery
	}
	if err != nil {
		t.Fatal(err)
	}
	tail := &events.Recorder{}
	fromSnap, err := call.Recover(snap, after, call.Options{Clock: clock.NewManual(t0), Sink: tail})
	if err != nil {
		t.Fatalf("recover from snapshot + journal: %v", err)
	}
	tailEvents := tail.Take()
	if len(tailEvents) > len(replayed) || !reflect.DeepEqual(normalize(tailEvents), normalize(replayed[len(replayed)-len(tailEvents):])) {
		t.Fatalf("seed %d: snapshot + journal replays other events than the whole journal's tail", seed)
	}
	a, _ := whole.Snapshot()
	b, _ := fromSnap.Snapshot()
	if !bytes.Equal(a, b) {
		t.Fatalf("seed %d: snapshot + journal reached another state than the whole journal:\n%s\n%s", seed, a, b)
	}
}

// normalize makes events that went through JSON comparable with ones that
// did not: empty slices and pointers as JSON decodes them.
func normalize(es []events.Event) []events.Event {
	out := make([]events.Event, len(es))
	for i, e := range es {
		b, _ := json.Marshal(e)
		_ = json.Unmarshal(b, &out[i])
	}
	return out
}

// swapJournal lets the child start a new journal file after a snapshot.
type swapJournal struct {
	mu sync.Mutex
	j  *jsonl.Journal
}

func (s *swapJournal) Append(e call.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.j.Append(e)
}

// TestCrashChild is the child of TestCrashRecovery; alone, it skips.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child process of TestCrashRecovery")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 2))
	j, err := jsonl.Open(filepath.Join(dir, "before.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	journal := &swapJournal{j: j}
	clk := clock.NewManual(t0)
	out := os.Stdout
	reg, err := call.NewRegistry(call.Options{
		Clock:   clk,
		Journal: journal,
		NewID:   counterIDs(),
		Sink: events.SinkFunc(func(e events.Event) {
			b, _ := json.Marshal(e)
			_, _ = out.Write(append(b, '\n'))
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	snapAt := rng.IntN(300)
	for step := range 300 {
		if step == snapAt {
			snap, err := reg.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if err := jsonl.WriteFileAtomic(filepath.Join(dir, "snap.json"), snap); err != nil {
				t.Fatal(err)
			}
			next, err := jsonl.Open(filepath.Join(dir, "after.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			journal.mu.Lock()
			journal.j = next
			journal.mu.Unlock()
			fmt.Fprintln(out, crashMarker)
		}
		randomInput(rng, reg, clk)
	}
	fmt.Fprintln(out, crashDone)
	time.Sleep(time.Hour) // wait for the parent's SIGKILL
}

// randomInput applies one random input of either mode to reg.
func randomInput(rng *rand.Rand, reg *call.Registry, clk *clock.Manual) {
	users := []string{"ann", "ben", "cat", "dan", "eve"}
	devices := []string{"", "phone"}
	u := users[rng.IntN(len(users))]
	id := fmt.Sprintf("c%d", 1+rng.IntN(8))
	pick := func() []string {
		var l []string
		for _, v := range users {
			if v != u && rng.IntN(3) == 0 {
				l = append(l, v)
			}
		}
		return l
	}
	switch rng.IntN(13) {
	case 0:
		reg.Login(u, devices[rng.IntN(2)])
	case 1:
		reg.Logout(u, devices[rng.IntN(2)])
	case 2, 3:
		mode := events.Mode(rng.IntN(2))
		_, _ = reg.Invite(u, pick(), call.InviteConfig{Mode: mode, Timeout: time.Duration(1+rng.IntN(30)) * time.Second, ExtendedData: "x"})
	case 4:
		_ = reg.Accept(u, id, call.AcceptConfig{Device: devices[rng.IntN(2)]})
	case 5:
		_ = reg.Reject(u, id, call.RejectConfig{})
	case 6:
		_, _ = reg.Cancel(u, id, pick(), call.CancelConfig{})
	case 7:
		_, _ = reg.CallingInvite(u, id, pick(), call.CallingInviteConfig{})
	case 8:
		_, _ = reg.Join(u, id, call.JoinConfig{})
	case 9:
		_ = reg.Quit(u, id, call.QuitConfig{})
	case 10:
		_ = reg.End(u, id, call.EndConfig{})
	case 11:
		clk.Advance(time.Duration(rng.IntN(20)) * time.Second)
	case 12:
		reg.Heartbeat(u, devices[rng.IntN(2)])
	}
}
