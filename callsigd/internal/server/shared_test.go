package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/callsigd/internal/wstest"
	"github.com/callsig/callsig/events"
	"github.com/coder/websocket"
)

// sharedBackend makes a server's Backend shared with other servers (set):
// a Registry that NewBackend makes with the devices in online logged in
// (through "other servers"), and the claims the server makes, kept.
type sharedBackend struct {
	online [][2]string

	mu     sync.Mutex
	reg    *call.Registry
	claims [][2]string
}

func (b *sharedBackend) set(c *Config) {
	c.Shared = true
	c.NewBackend = func(o call.Options) (Backend, error) {
		r, err := call.NewRegistry(o)
		if err != nil {
			return nil, err
		}
		for _, d := range b.online {
			if err := r.Login(d[0], d[1]); err != nil {
				return nil, err
			}
		}
		b.mu.Lock()
		b.reg = r
		b.mu.Unlock()
		return r, nil
	}
	c.Claim = func(user, device string, _ Stamp) Stamp {
		b.mu.Lock()
		b.claims = append(b.claims, [2]string{user, device})
		b.mu.Unlock()
		return Stamp{}
	}
}

// A device online in a shared Backend through another server (its
// connection there, or a server that died) that connects here gets its
// replays (G8), which a Login, doing nothing for a device online, would
// not give; its connection first claims the device from the other
// servers. The devices online at start are not this server's: no grace
// period logs them out.
func TestSharedRejoinReplays(t *testing.T) {
	b := &sharedBackend{online: [][2]string{{"bob", "phone"}}}
	e := newEnvWith(t, call.Options{}, Limits{}, b.set)
	alice := e.dial("alice", "web")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	e.clk.Advance(DefaultGrace + time.Second) // no grace period: bob stays online
	if got := e.srv.Backend().Online(); len(got) != 2 {
		t.Fatalf("online: %v", got)
	}
	bob := e.dial("bob", "phone")
	ev := bob.WaitEvents(1)[0]
	if ev.Kind != events.InvitationReceived || ev.CallID != "call-1" || ev.ToDevice != "phone" {
		t.Fatalf("bob's replay: %s", calltest.FormatEvent(ev))
	}
	// A device not online anywhere logs in, with its replays.
	alice.OK("invite", map[string]any{"invitees": []string{"carol"}}, nil)
	carol := e.dial("carol", "web")
	if ev := carol.WaitEvents(1)[0]; ev.Kind != events.InvitationReceived || ev.CallID != "call-2" {
		t.Fatalf("carol's replay: %s", calltest.FormatEvent(ev))
	}
	b.mu.Lock()
	claims := slices.Clone(b.claims)
	b.mu.Unlock()
	if want := [][2]string{{"alice", "web"}, {"bob", "phone"}, {"carol", "web"}}; !slices.Equal(claims, want) {
		t.Fatalf("claims %v, want %v", claims, want)
	}
	if e.srv.Registry() == nil {
		t.Fatal("Registry() is nil for a *call.Registry Backend")
	}
}

// later is the stamp of a connection another server opened an hour after
// the tests' start: newer than any connection a test opens.
var later = Stamp{Time: start.Add(time.Hour).UnixNano(), Node: "other"}

// Release closes the connection of a device that another server took
// over with 4000 (replaced), and does not log it out.
func TestRelease(t *testing.T) {
	b := &sharedBackend{}
	e := newEnvWith(t, call.Options{}, Limits{}, b.set)
	bob := e.dial("bob", "phone")
	if released, newer := e.srv.Release(context.Background(), "bob", "phone", later); !released || !newer.IsZero() {
		t.Fatalf("Release found no connection: %v %+v", released, newer)
	}
	if code, reason := closeOf(bob.WaitEnd()); code != CloseReplaced || reason != "replaced" {
		t.Fatalf("bob's connection ended with %v %q", code, reason)
	}
	// Its handler has returned once the connection count is back to 0.
	for deadline := time.Now().Add(waitLimit); e.metric("callsigd_connections") != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the released connection's handler did not return")
		}
	}
	if got := e.srv.Backend().Online(); len(got) != 1 || got[0].User != "bob" {
		t.Fatalf("online after Release: %v", got)
	}
	if released, _ := e.srv.Release(context.Background(), "bob", "phone", later); released {
		t.Fatal("Release found a connection twice")
	}
}

// A claim older than the connection here closes nothing, and is answered
// with the connection's stamp: the claimer's connection is the one
// replaced. A claim given up (its context ended) is decided all the same.
func TestReleaseOfAnOlderClaim(t *testing.T) {
	b := &sharedBackend{}
	e := newEnvWith(t, call.Options{}, Limits{}, b.set)
	bob := e.dial("bob", "phone")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	released, newer := e.srv.Release(ctx, "bob", "phone", Stamp{Time: start.UnixNano() - 1, Node: "other"})
	if released || newer.IsZero() || !newer.Less(later) {
		t.Fatalf("an older claim: released %v, newer %+v", released, newer)
	}
	bob.OK("heartbeat", nil, nil) // still open, and served
	if released, _ := e.srv.Release(ctx, "bob", "phone", later); !released {
		t.Fatal("Release found no connection")
	}
	if code, _ := closeOf(bob.WaitEnd()); code != CloseReplaced {
		t.Fatalf("bob's connection ended with %v", code)
	}
	// A connection opened since has heard of the claim: it is newer.
	bob2 := e.dial("bob", "phone")
	if released, newer := e.srv.Release(context.Background(), "bob", "phone", later); released || !later.Less(newer) {
		t.Fatalf("a claim older than the connection: released %v, newer %+v", released, newer)
	}
	bob2.OK("heartbeat", nil, nil)
}

// ReleaseAll closes every connection with 1012 (service restart) and
// logs no device out: the ringing call of a caller so disconnected is not
// cancelled (G7), and a device that reconnects gets its replays (G8).
func TestReleaseAll(t *testing.T) {
	b := &sharedBackend{}
	e := newEnvWith(t, call.Options{}, Limits{}, b.set)
	alice := e.dial("alice", "web")
	bobPhone := e.dial("bob", "phone")
	bobWeb := e.dial("bob", "web")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bobPhone.WaitEvents(1)
	bobWeb.WaitEvents(1)
	if n := e.srv.ReleaseAll(); n != 3 {
		t.Fatalf("ReleaseAll closed %d connections, want 3", n)
	}
	for _, c := range []*wstest.Client{alice, bobPhone, bobWeb} {
		if code, reason := closeOf(c.WaitEnd()); code != websocket.StatusServiceRestart || reason != "state replaced: reconnect" {
			t.Fatalf("a connection ended with %v %q", code, reason)
		}
	}
	for deadline := time.Now().Add(waitLimit); e.metric("callsigd_connections") != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the released connections' handlers did not return")
		}
	}
	if got := e.srv.Backend().Online(); len(got) != 3 {
		t.Fatalf("online after ReleaseAll: %v", got)
	}
	if n := e.metric(`callsigd_connection_closes_total{reason="restored"}`); n != 3 {
		t.Fatalf("metrics count %v restored connections, want 3", n)
	}
	if info, ok := e.srv.Backend().Call("call-1"); !ok || !info.EndedAt.IsZero() {
		t.Fatalf("the call after ReleaseAll: %+v %v", info, ok)
	}
	bob := e.dial("bob", "phone")
	if ev := bob.WaitEvents(1)[0]; ev.Kind != events.InvitationReceived || ev.CallID != "call-1" {
		t.Fatalf("bob's replay: %s", calltest.FormatEvent(ev))
	}
	if n := e.srv.ReleaseAll(); n != 1 {
		t.Fatalf("ReleaseAll closed %d connections, want the one reconnected", n)
	}
}

// Config.Health makes /healthz answer 503 with its error; Config.Routes
// are served; NewRegistry and NewBackend exclude each other.
func TestHealthAndRoutes(t *testing.T) {
	var sick error
	var mu sync.Mutex
	e := newEnvWith(t, call.Options{}, Limits{}, func(c *Config) {
		c.Health = func() error { mu.Lock(); defer mu.Unlock(); return sick }
		c.Routes = map[string]http.Handler{"GET /v1/extra": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("extra"))
		})}
	})
	if code, body := wstest.Get(t, e.ts.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	mu.Lock()
	sick = errors.New("no leader")
	mu.Unlock()
	if code, body := wstest.Get(t, e.ts.URL+"/healthz"); code != http.StatusServiceUnavailable || body != "no leader\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, body := wstest.Get(t, e.ts.URL+"/v1/extra"); code != http.StatusOK || body != "extra" {
		t.Fatalf("/v1/extra: %d %q", code, body)
	}
	_, err := New(Config{Auth: e.auth, NewRegistry: call.NewRegistry,
		NewBackend: func(o call.Options) (Backend, error) { return call.NewRegistry(o) }})
	if err == nil {
		t.Fatal("New took NewRegistry and NewBackend")
	}
}

// unavailableErr is an error of a Backend that cannot read now, with the
// code a cluster node gives it.
type unavailableErr struct{}

func (unavailableErr) Error() string { return "no leader reachable" }
func (unavailableErr) Code() string  { return "unavailable" }

// The call and history ops call Config.ReadBarrier before they read the
// Backend, and only they do: what was committed elsewhere before the
// barrier (here, a call another server made, which the barrier brings
// in) is read; a barrier's error is the op's reply, with its code, and
// nothing is read.
func TestReadBarrier(t *testing.T) {
	b := &sharedBackend{}
	var mu sync.Mutex
	var barriers int
	var fail error
	e := newEnvWith(t, call.Options{History: 10}, Limits{}, func(c *Config) {
		b.set(c)
		c.ReadBarrier = func() error {
			mu.Lock()
			defer mu.Unlock()
			barriers++
			if fail != nil {
				return fail
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, ok := b.reg.Call("elsewhere"); !ok && barriers == 1 {
				_, err := b.reg.Invite("bob", []string{"alice"}, call.InviteConfig{CallID: "elsewhere"})
				return err
			}
			return nil
		}
	})
	alice := e.dial("alice", "web")
	alice.OK("invite", map[string]any{"invitees": []string{"carol"}}, nil)
	alice.OK("heartbeat", nil, nil)
	mu.Lock()
	if barriers != 0 {
		t.Fatalf("%d read barriers for commands", barriers)
	}
	mu.Unlock()
	var info call.Info
	alice.OK("call", map[string]any{"call_id": "elsewhere"}, &info)
	if info.CallID != "elsewhere" || info.Caller != "bob" {
		t.Fatalf("call after the barrier: %+v", info)
	}
	alice.OK("history", nil, nil)
	mu.Lock()
	if barriers != 2 {
		t.Fatalf("%d read barriers for a call and a history, want 2", barriers)
	}
	fail = unavailableErr{}
	mu.Unlock()
	alice.Fails("unavailable", "call", map[string]any{"call_id": "elsewhere"})
	alice.Fails("unavailable", "history", nil)
}

// Two servers sharing a Backend, each with a connection of one device
// whose claim reaches the other while the other's own claim is under
// way, keep exactly one connection, the newer by its stamp, on both
// alike: the other is closed with 4000 (replaced), and never logs the
// device out, which stays online through the survivor.
// The servers' clocks read the same, so the stamps tie on their time,
// and the servers' names decide: b's connection is the newer.
func TestConcurrentClaimsKeepOne(t *testing.T) {
	var servers [2]*env // a and b
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	// Both claims wait for their answers 200 ms at most, from when both
	// came, as a cluster node's Claim does, and give up together.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		arrived.Wait()
		time.AfterFunc(200*time.Millisecond, cancel)
		close(both)
	}()
	// claim of server i waits until both servers claim bob's phone, then
	// asks the other for its release.
	claim := func(i int) func(user, device string, stamp Stamp) Stamp {
		return func(user, device string, stamp Stamp) Stamp {
			if device != "phone" {
				return Stamp{}
			}
			arrived.Done()
			select {
			case <-both:
			case <-time.After(waitLimit):
				t.Error("the other server's claim never came")
				return Stamp{}
			}
			answer := make(chan Stamp, 1)
			go func() {
				_, newer := servers[1-i].srv.Release(ctx, user, device, stamp)
				answer <- newer
			}()
			select {
			case newer := <-answer:
				return newer
			case <-ctx.Done():
				return Stamp{}
			}
		}
	}
	b := &sharedBackend{}
	servers[0] = newEnvWith(t, call.Options{}, Limits{}, func(c *Config) {
		b.set(c)
		c.Node, c.Claim = "a", claim(0)
	})
	servers[1] = newEnvWith(t, call.Options{}, Limits{}, func(c *Config) {
		c.Shared, c.Node, c.Claim = true, "b", claim(1)
		c.NewBackend = func(call.Options) (Backend, error) { return servers[0].srv.Backend(), nil }
	})
	var bob [2]*wstest.Client
	for i, e := range servers {
		c, err := wstest.Dial(t, e.wsURL(e.token("bob", "phone")), "bob", "phone")
		if err != nil {
			t.Fatal(err)
		}
		bob[i] = c
	}
	if h := bob[1].Hello(); h.Device != "phone" {
		t.Fatalf("the survivor's hello: %+v", h)
	}
	if code, reason := closeOf(bob[0].WaitEnd()); code != CloseReplaced || reason != "replaced" {
		t.Fatalf("the older connection ended with %v %q", code, reason)
	}
	for deadline := time.Now().Add(waitLimit); servers[0].metric("callsigd_connections") != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replaced connection's handler did not return")
		}
	}
	bob[1].OK("heartbeat", nil, nil)
	if got := servers[0].srv.Backend().Online(); len(got) != 1 || got[0].User != "bob" || got[0].Device != "phone" {
		t.Fatalf("online: %v", got)
	}
	if n := servers[1].metric("callsigd_connections"); n != 1 {
		t.Fatalf("b has %v connections", n)
	}
}

// gatedLogouts is a Journal whose Logout entries, while gated, each wait
// for the test's verdict: Append says on entered that one came, and
// returns what the test sends on verdict. Ungated, it takes every entry.
type gatedLogouts struct {
	entered chan struct{}
	verdict chan error

	mu    sync.Mutex
	gated bool
	n     int // logouts appended, taken or refused
}

func newGatedLogouts() *gatedLogouts {
	return &gatedLogouts{entered: make(chan struct{}), verdict: make(chan error)}
}

func (j *gatedLogouts) Append(e call.Entry) error {
	if e.Op != call.OpLogout {
		return nil
	}
	j.mu.Lock()
	j.n++
	gated := j.gated
	j.mu.Unlock()
	if !gated {
		return nil
	}
	j.entered <- struct{}{}
	return <-j.verdict
}

func (j *gatedLogouts) gate(on bool) {
	j.mu.Lock()
	j.gated = on
	j.mu.Unlock()
}

func (j *gatedLogouts) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.n
}

// orphaned reports whether the server has user's device filed for a
// logout (a retry of a refused one, here).
func (e *env) orphaned(user, device string) bool {
	e.srv.mu.RLock()
	defer e.srv.mu.RUnlock()
	_, ok := e.srv.orphans[[2]string{user, device}]
	return ok
}

// eventually reports whether f holds within waitLimit.
func eventually(f func() bool) bool {
	for deadline := time.Now().Add(waitLimit); !f(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// stillOnline fails t unless bob's phone is online in e's Backend, and
// the Journal was asked for logouts times.
func stillOnline(t *testing.T, e *env, j interface{ count() int }, logouts int) {
	t.Helper()
	if n := j.count(); n != logouts {
		t.Errorf("%d logouts tried, want %d", n, logouts)
	}
	if got := e.srv.Backend().Online(); len(got) != 1 || got[0] != (call.OnlineDevice{User: "bob", Device: "phone"}) {
		t.Errorf("online: %v, want bob's phone, the claimer's", got)
	}
}

// A connection whose device another server claims while its Logout is
// under way files no retry when the Registry refuses that Logout (its
// Journal, D1): the claimer's connection has the device, online all
// along, and a retry would log it out under that connection.
func TestNoLogoutRetryAfterClaim(t *testing.T) {
	j := newGatedLogouts()
	b := &sharedBackend{}
	e := newEnvWith(t, call.Options{Journal: j}, Limits{}, b.set)
	bob := e.dial("bob", "phone")
	j.gate(true)
	_ = bob.WS.Close(websocket.StatusNormalClosure, "bye")
	<-j.entered // detach's Logout, under the presence lock
	released := make(chan bool)
	go func() {
		r, _ := e.srv.Release(context.Background(), "bob", "phone", later)
		released <- r
	}()
	// Release takes the device from the connection at once, then waits
	// for the presence lock, which detach holds until it has decided.
	taken := eventually(func() bool {
		e.srv.mu.RLock()
		defer e.srv.mu.RUnlock()
		return e.srv.devices["bob"]["phone"] == nil
	})
	j.verdict <- errDiskFull
	if !taken {
		t.Fatal("Release did not take the device from the connection")
	}
	if !<-released {
		t.Fatal("Release found no connection")
	}
	if e.orphaned("bob", "phone") {
		t.Fatal("a retry of the refused Logout is filed after another server claimed the device")
	}
	j.gate(false)
	e.clk.Advance(time.Minute) // every retry would fall due within it
	stillOnline(t, e, j, 1)
}

// A claim from another server drops the retry of a refused Logout (its
// Journal, D1) pending for the device here: the claimer's connection
// has the device, online all along, and the retry would log it out under
// that connection once the Journal takes it.
func TestClaimDropsPendingLogoutRetry(t *testing.T) {
	j := &refusingLogouts{refused: make(chan struct{}, 1)}
	b := &sharedBackend{}
	e := newEnvWith(t, call.Options{Journal: j}, Limits{}, b.set)
	bob := e.dial("bob", "phone")
	j.set(true)
	_ = bob.WS.Close(websocket.StatusNormalClosure, "bye")
	<-j.refused
	e.waitOrphan("bob", "phone", true)
	if released, newer := e.srv.Release(context.Background(), "bob", "phone", later); released || !newer.IsZero() {
		t.Fatalf("Release: released %v, newer %+v; want neither", released, newer)
	}
	if e.orphaned("bob", "phone") {
		t.Fatal("the Logout retry is still pending after another server claimed the device")
	}
	j.set(false)
	e.clk.Advance(time.Minute) // every retry would fall due within it
	stillOnline(t, e, j, 1)
}

// A claim that arrives while a retry of a refused Logout is under way
// here (its Logout waits for the Journal) ends the retries: that Logout,
// refused again, is not tried once more. The claim waits for it to
// return, so that it is made before the claimer's connection logs in.
func TestClaimStopsLogoutRetryUnderWay(t *testing.T) {
	j := newGatedLogouts()
	b := &sharedBackend{}
	e := newEnvWith(t, call.Options{Journal: j}, Limits{}, b.set)
	bob := e.dial("bob", "phone")
	j.gate(true)
	_ = bob.WS.Close(websocket.StatusNormalClosure, "bye")
	<-j.entered
	j.verdict <- errDiskFull
	e.waitOrphan("bob", "phone", true)
	advanced := make(chan struct{})
	go func() {
		e.clk.Advance(logoutRetryFirst) // the retry, which waits for the Journal
		close(advanced)
	}()
	<-j.entered
	released := make(chan struct{})
	go func() {
		e.srv.Release(context.Background(), "bob", "phone", later)
		close(released)
	}()
	dropped := eventually(func() bool { return !e.orphaned("bob", "phone") })
	select {
	case <-released:
		t.Error("Release returned while a Logout of the device was under way")
	default:
	}
	j.verdict <- errDiskFull
	<-advanced
	<-released
	if !dropped {
		t.Fatal("the claim did not drop the retries")
	}
	if e.orphaned("bob", "phone") {
		t.Fatal("the refused retry was filed again after another server claimed the device")
	}
	j.gate(false)
	e.clk.Advance(time.Minute)
	stillOnline(t, e, j, 2)
}
