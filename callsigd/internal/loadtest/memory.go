package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Memory is what idle connections cost a server's process.
type Memory struct {
	Conns             int
	BytesPerConn      float64 // heap objects and goroutine stacks, after a GC
	HeapPerConn       float64 // of which heap objects
	GoroutinesPerConn float64
}

// childEnv, set in a child's environment, makes ChildMain hold idle
// connections instead of returning.
const childEnv = "CALLSIGD_LOAD_IDLE_CHILD"

var samples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/stacks:bytes"},
	{Name: "/sched/goroutines:goroutines"},
}

// usage returns the heap objects, the stacks and the goroutines of this
// process, after a GC.
func usage() (heap, stacks, goroutines float64) {
	runtime.GC()
	runtime.GC()
	metrics.Read(samples)
	return float64(samples[0].Value.Uint64()), float64(samples[1].Value.Uint64()), float64(samples[2].Value.Uint64())
}

// IdleMemory measures what n idle connections to t, a server in this
// process, cost this process: a child process (this executable, which
// must call ChildMain first thing) opens them and holds them, so that
// only the server's side of each is here.
func IdleMemory(t *target, n int) (*Memory, error) {
	var urls strings.Builder
	for i := range n {
		u, err := t.url(userName(i))
		if err != nil {
			return nil, err
		}
		urls.WriteString(u + "\n")
	}
	urls.WriteString("\n")
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	h0, s0, g0 := usage()

	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Wait() }()
	defer stdin.Close()
	if _, err := io.WriteString(stdin, urls.String()); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("idle child: %w", err)
	}
	if line != "ready\n" {
		return nil, fmt.Errorf("idle child: %s", strings.TrimSpace(line))
	}
	time.Sleep(200 * time.Millisecond) // the servers' goroutines settle
	h1, s1, g1 := usage()
	m := &Memory{
		Conns:             n,
		BytesPerConn:      (h1 + s1 - h0 - s0) / float64(n),
		HeapPerConn:       (h1 - h0) / float64(n),
		GoroutinesPerConn: (g1 - g0) / float64(n),
	}
	// The child closes its connections on EOF; wait until the server has
	// let them go, so that the load that follows starts from nothing.
	stdin.Close()
	_ = cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if runtime.NumGoroutine() <= int(g0)+4 {
			break
		}
	}
	return m, nil
}

// ChildMain returns at once, unless this process is IdleMemory's child:
// then it reads WebSocket URLs from standard input (one a line, to an
// empty line), connects to each and reads its hello, prints "ready"
// (or "error: …"), holds the connections until standard input ends, and
// exits. A program that calls IdleMemory (through Run) calls ChildMain
// first thing in main, or in TestMain.
func ChildMain() {
	if os.Getenv(childEnv) == "" {
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 64<<10)
	var urls []string
	for in.Scan() && in.Text() != "" {
		urls = append(urls, in.Text())
	}
	if err := holdIdle(urls); err != nil {
		fmt.Printf("error: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func holdIdle(urls []string) error {
	if _, _, err := raiseNoFile(uint64(len(urls) + 64)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conns := make([]*websocket.Conn, len(urls))
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		errAll error
	)
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(urls) {
					return
				}
				ws, _, err := websocket.Dial(ctx, urls[i], nil)
				if err == nil {
					_, _, err = ws.Read(ctx) // the hello
				}
				if err != nil {
					mu.Lock()
					errAll = errors.Join(errAll, err)
					mu.Unlock()
					return
				}
				conns[i] = ws
			}
		})
	}
	wg.Wait()
	if errAll != nil {
		return errAll
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.CloseNow()
	}
	return nil
}
