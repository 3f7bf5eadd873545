package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
)

// The internal endpoints, which only the nodes call, and their headers.
//
// A path names the format of its requests and answers (v1). A change to
// either that a node of the previous build would misread takes new paths,
// never the old ones: such a node then answers other than 200 (404, or
// 405 where the server's own routes take the path), which a caller takes
// as refused unheard (readAnswer), so that a cluster of two builds refuses
// commands (unavailable, nothing done) rather than run one misread. A
// forwarded command is a call.Entry, so a change of the replica's
// proposal format (replica's proposalFormat) takes new paths too.
const (
	commandPath = "/v1/internal/command" // a follower's command, run on the leader
	releasePath = "/v2/internal/release" // a claim: close your connection of this device older than mine
	barrierPath = "/v1/internal/barrier" // a read barrier (ReadBarrier), on the leader

	headerNode = "Callsigd-Node"      // the calling node's ID
	headerTime = "Callsigd-Time"      // when it called: Unix nanoseconds
	headerSig  = "Callsigd-Signature" // hex HMAC-SHA256 under Config.Key of path, node, time and body

	// maxSkew is how far a request's time may be from the receiver's
	// clock: a request captured on the way can be replayed within it.
	maxSkew = 30 * time.Second
	// maxBody bounds an internal request's body: a command carries at
	// most a client's message (64 KiB) and the IDs.
	maxBody = 1 << 20
)

// errShuttingDown is the error of what the cluster's shutdown (Close,
// Interrupt) stopped before it did anything. Never modified.
var errShuttingDown = &Error{ErrUnavailable, "the node is shutting down"}

// codeNotLeader is the internal endpoint's error code for a node that
// does not lead (replica.ErrNotLeader): nothing was done, and the caller
// tries the leader it learns of next.
const codeNotLeader = "not_leader"

// response is the answer of the internal endpoints: the command's result
// (on success) or the error, and the index of the last entry the leader
// had applied when the command, or the barrier, returned.
type response struct {
	Applied uint64      `json:"applied"`
	Result  call.Result `json:"result"`
	Error   *wireError  `json:"error,omitempty"`
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// run runs the command or presence change e on the leader (see
// replica.Node.Do: the leader fills in its time, ID and Admit's answers)
// and returns its result. If this node leads, it runs here; else the
// entry is forwarded to the leader as it is, and once the leader has
// answered, run waits (at most Config.Wait) until this node's replica
// has applied what the leader had when it answered: the command's events
// then have reached this node's connections before its reply, and this
// node's queries see the command, as on one server. While no leader is
// known, or the one known does not lead or cannot be reached (nothing
// done), run tries again, for Config.Wait in all; then ErrUnavailable
// (see onLeader).
func (c *Cluster) run(e call.Entry) (call.Result, error) {
	var res call.Result
	n, applied, deadline, err := c.onLeader(
		func(n *replica.Node) (uint64, error) {
			var err error
			res, err = n.Do(e)   // zero when it did not lead: onLeader tries again
			return 0, local(err) // applied here already
		},
		func(p Peer, deadline time.Time) (uint64, error, bool) {
			var applied uint64
			var err error
			var again bool
			res, applied, err, again = c.forwardTo(p, e, deadline)
			return applied, err, again
		})
	if err == nil || applied > 0 && errors.Is(err, ErrUncertain) {
		c.await(n, applied, deadline) // it took effect: its events first
	}
	return res, err
}

// ReadBarrier waits until this node's replica has applied every entry
// the cluster had committed when ReadBarrier was called, so that the
// queries read after it see at least that (the server calls it before
// the call and history ops): the leader proposes a barrier
// (replica.Node.Barrier), here if this node leads, else asked by the
// internal barrier endpoint, and this node waits until its replica has
// applied the leader's index then. Entries a new leader inherited
// uncommitted are so decided; a command that got ErrUncertain whose
// request has not reached a leader yet is not (see doc.go). While no
// leader can be reached ReadBarrier tries again, as a command does, and
// fails with ErrUnavailable after Config.Wait; it fails so too when this
// node's replica has not caught up by then (the query would read what
// may be stale), and so too when the node shuts down.
//
// Concurrent calls share a barrier (coalescer): one that arrives while
// this node's barrier is under way waits for the next, which starts once
// that one has ended and serves every call that arrived meanwhile; so a
// call waits for two of this node's barriers at most. The leader shares
// the barriers it is asked for the same way (serveBarrier), so each of
// this node's may wait for two of the leader's, each a raft round trip (a
// log entry, committed by a majority), besides the search for a leader.
func (c *Cluster) ReadBarrier() error {
	n := c.Node()
	if n == nil {
		return &Error{ErrUnavailable, "the node is not started"}
	}
	ctx, cancel := context.WithTimeout(c.stop, c.wait)
	defer cancel()
	deadline, _ := ctx.Deadline()
	applied, err := c.reads.do(ctx)
	switch {
	case c.stop.Err() != nil:
		return errShuttingDown
	case err != nil && err == ctx.Err():
		return &Error{ErrUnavailable, fmt.Sprintf("no read barrier answered within %v", c.wait)}
	case err != nil:
		return err
	}
	if !c.await(n, applied, deadline) {
		if c.stop.Err() != nil {
			return errShuttingDown
		}
		return &Error{ErrUnavailable, fmt.Sprintf("this node's replica has not applied the leader's index %d in time", applied)}
	}
	return nil
}

// readBarrier is one barrier of ReadBarrier's rounds (Cluster.reads): it
// returns the leader's index once its barrier was, or the error once
// Config.Wait has passed, from this round's start, without a leader.
func (c *Cluster) readBarrier() (uint64, error) {
	_, applied, _, err := c.onLeader(c.barrierHere, c.barrierAt)
	return applied, err
}

// barrierHere runs a read barrier on this node, which leads, for
// onLeader: one of the rounds that the barrier endpoint's requests share
// (Cluster.barriers).
func (c *Cluster) barrierHere(*replica.Node) (uint64, error) {
	i, err := c.barriers.do(c.stop)
	if errors.Is(err, replica.ErrClosed) || err != nil && err == c.stop.Err() {
		return 0, errShuttingDown
	}
	return i, err
}

// onLeader runs an operation on the leader, for run and ReadBarrier: by
// here, on this node's replica.Node, if this node leads, else by there,
// on the leader p, before deadline. An error of here that matches
// replica.ErrNotLeader, or one of there with again, says that nothing
// was done and another try may succeed: while no leader is known, or the
// one known does not lead or cannot be reached, onLeader tries again,
// for Config.Wait in all (deadline); then ErrUnavailable. It returns the
// node, the index of the last entry the leader had applied as here or
// there answered it, the deadline, and the operation's error.
func (c *Cluster) onLeader(here func(*replica.Node) (uint64, error), there func(p Peer, deadline time.Time) (applied uint64, err error, again bool)) (*replica.Node, uint64, time.Time, error) {
	deadline := time.Now().Add(c.wait)
	n := c.Node()
	if n == nil {
		return nil, 0, deadline, &Error{ErrUnavailable, "the node is not started"}
	}
	pause := 5 * time.Millisecond
	for {
		if c.stop.Err() != nil {
			return n, 0, deadline, errShuttingDown
		}
		var why string
		if n.IsLeader() {
			applied, err := here(n)
			if !errors.Is(err, replica.ErrNotLeader) {
				return n, applied, deadline, err
			}
			why = err.Error()
		} else if id := n.Leader(); id == "" {
			why = "no leader known"
		} else if p, ok := c.byID[id]; !ok || id == c.cfg.ID {
			why = fmt.Sprintf("the leader %q is not among the peers", id)
		} else {
			applied, err, again := there(p, deadline)
			if !again {
				return n, applied, deadline, err
			}
			why = err.Error()
		}
		left := time.Until(deadline)
		if left <= 0 {
			return n, 0, deadline, &Error{ErrUnavailable, why}
		}
		c.sleep(min(pause, left))
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// local maps the errors of this node's replica.Node to the cluster's.
func local(err error) error {
	switch {
	case errors.Is(err, replica.ErrUncertain):
		return newError(ErrUncertain, err.Error())
	case errors.Is(err, replica.ErrClosed):
		// Raft may have been shut down between the commit and the
		// apply: the entry may be in the log.
		return &Error{ErrUncertain, "the node is shutting down"}
	}
	return err
}

// await waits until n has applied index, or until deadline or the
// cluster's interruption, and says whether n has applied it. A command's
// reply goes out all the same (the command was done); a read does not.
func (c *Cluster) await(n *replica.Node, index uint64, deadline time.Time) bool {
	pause := 100 * time.Microsecond
	for n.Applied() < index && time.Now().Before(deadline) && c.stop.Err() == nil {
		c.sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
	return n.Applied() >= index
}

// sleep waits for d, or until the cluster is interrupted.
func (c *Cluster) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.stop.Done():
	}
}

// forwardTo sends e to the leader p and returns its answer. again says
// that nothing was done and another try may succeed: the request never
// reached p, p does not lead, or refused it unheard. An error after the
// request reached p, before its answer was read, is ErrUncertain.
func (c *Cluster) forwardTo(p Peer, e call.Entry, deadline time.Time) (res call.Result, applied uint64, err error, again bool) {
	body, err := json.Marshal(e)
	if err != nil {
		return res, 0, fmt.Errorf("cluster: %w: %v", call.ErrInvalidArgument, err), false
	}
	// The request is bounded by the leader's commit timeout, not by
	// the wait for a leader: once sent, its answer is worth waiting for.
	ctx, cancel := context.WithTimeout(c.stop, max(c.forward, time.Until(deadline)))
	defer cancel()
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}})
	resp, err := c.post(ctx, p, commandPath, body)
	if err != nil {
		if !wrote.Load() {
			return res, 0, fmt.Errorf("leader %s unreachable: %v", p.ID, err), true
		}
		return res, 0, &Error{ErrUncertain, fmt.Sprintf("leader %s: %v", p.ID, err)}, false
	}
	var r response
	refused, err := readAnswer(p, resp, &r)
	if refused != nil {
		return res, 0, refused, true
	}
	if err != nil {
		// If the command took effect, its outcome is unknown to the
		// client, not a failure, and its events are on their way.
		return res, r.Applied, &Error{ErrUncertain, err.Error()}, false
	}
	if r.Error != nil {
		switch r.Error.Code {
		case codeNotLeader:
			return res, 0, fmt.Errorf("%s: %s", p.ID, r.Error.Message), true
		case CodeUncertain:
			// The leader's applied index, when it sent one (a result it
			// could not encode): the command took effect, and its events
			// are waited for as a success's are.
			return res, r.Applied, newError(ErrUncertain, r.Error.Message), false
		}
		return res, r.Applied, codedError(r.Error.Code, r.Error.Message), false
	}
	return r.Result, r.Applied, nil, false
}

// readAnswer reads the answer of an internal endpoint of p into v. An
// answer other than 200 is refused: the endpoints answer 200 whenever
// they ran what was asked, so anything else was refused unheard (a node
// not in cluster mode, a key that differs, a shutdown). err says that a
// 200 answer could not be read.
func readAnswer(p Peer, resp *http.Response, v any) (refused, err error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("leader %s: %s: %s", p.ID, resp.Status, bytes.TrimSpace(b)), nil
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return nil, fmt.Errorf("leader %s: the answer could not be read: %v", p.ID, err)
	}
	return nil, nil
}

// answerError is what an internal endpoint answers for err, an error of
// this node's replica.Node: not_leader, which the caller tries again
// elsewhere, or the error's code.
func answerError(err error) *wireError {
	if errors.Is(err, replica.ErrNotLeader) {
		return &wireError{codeNotLeader, err.Error()}
	}
	err = local(err)
	return &wireError{call.Code(err), err.Error()}
}

// barrierAt asks the leader p for a read barrier (ReadBarrier), before
// deadline, and returns its answer's index. A barrier changes nothing:
// every failure may be tried again.
func (c *Cluster) barrierAt(p Peer, deadline time.Time) (uint64, error, bool) {
	ctx, cancel := context.WithDeadline(c.stop, deadline)
	defer cancel()
	resp, err := c.post(ctx, p, barrierPath, nil)
	if err != nil {
		return 0, fmt.Errorf("leader %s: %v", p.ID, err), true
	}
	var a response
	refused, err := readAnswer(p, resp, &a)
	switch {
	case refused != nil:
		return 0, refused, true
	case err != nil:
		return 0, err, true
	case a.Error != nil:
		return 0, fmt.Errorf("%s: %s", p.ID, a.Error.Message), true
	}
	return a.Applied, nil, false
}

// serveBarrier runs a read barrier on this node, which must lead
// (replica.Node.Barrier), and answers 200 with a response: the index of
// the last entry it had applied once its barrier was, or the error.
// Concurrent requests, and this node's own ReadBarrier, share barriers
// as ReadBarrier's calls do (Cluster.barriers): each is served by one
// that started after it arrived.
func (c *Cluster) serveBarrier(w http.ResponseWriter, r *http.Request, _ []byte) {
	if c.Node() == nil {
		http.Error(w, "not started", http.StatusServiceUnavailable)
		return
	}
	var a response
	applied, err := c.barriers.do(r.Context())
	if err == nil {
		a.Applied = applied
	} else {
		a.Error = answerError(err)
	}
	writeJSON(w, http.StatusOK, a)
}

// codedError returns an error whose call.Code is code, with message msg,
// matching the code's sentinel with errors.Is where package call knows
// the code: a call.Failure decoded from JSON carries such an error.
func codedError(code, msg string) error {
	var f call.Failure
	b, _ := json.Marshal(map[string]string{"user": "", "code": code, "message": msg})
	if err := json.Unmarshal(b, &f); err != nil || f.Err == nil {
		return fmt.Errorf("%s: %s", code, msg)
	}
	return f.Err
}

// serveCommand runs a forwarded command on this node, which must lead
// (it forwards nothing further), and answers 200 with a response.
func (c *Cluster) serveCommand(w http.ResponseWriter, _ *http.Request, body []byte) {
	var e call.Entry
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "command: "+err.Error(), http.StatusBadRequest)
		return
	}
	n := c.Node()
	if n == nil {
		http.Error(w, "not started", http.StatusServiceUnavailable)
		return
	}
	res, err := n.Do(e)
	r := response{Applied: n.Applied()}
	if err == nil {
		r.Result = res
	} else {
		r.Error = answerError(err)
	}
	b, err := json.Marshal(r)
	if err != nil { // it took effect, but its result cannot be told
		r = response{Applied: r.Applied, Error: &wireError{CodeUncertain, "the command took effect; its result cannot be encoded: " + err.Error()}}
		b, _ = json.Marshal(r)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// internal wraps an internal endpoint: it reads the body and checks the
// request's signature and time; a request that fails gets 401 and is not
// run.
func (c *Cluster) internal(h func(http.ResponseWriter, *http.Request, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		node, at := r.Header.Get(headerNode), r.Header.Get(headerTime)
		sig, err := hex.DecodeString(r.Header.Get(headerSig))
		ns, terr := strconv.ParseInt(at, 10, 64)
		switch {
		case err != nil || terr != nil || !hmac.Equal(sig, c.sign(r.URL.Path, node, at, body)):
			http.Error(w, "not signed by a node of this cluster", http.StatusUnauthorized)
			return
		case time.Since(time.Unix(0, ns)).Abs() > maxSkew:
			http.Error(w, "signed too long ago, or the clocks differ", http.StatusUnauthorized)
			return
		}
		h(w, r, body)
	})
}

// sign returns the signature of an internal request.
func (c *Cluster) sign(path, node, at string, body []byte) []byte {
	m := hmac.New(sha256.New, c.cfg.Key)
	for _, s := range []string{path, node, at} {
		m.Write([]byte(s))
		m.Write([]byte{'\n'})
	}
	m.Write(body)
	return m.Sum(nil)
}

// post sends a signed internal request to p.
func (c *Cluster) post(ctx context.Context, p Peer, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Scheme+"://"+p.HTTP+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	at := strconv.FormatInt(time.Now().UnixNano(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerNode, c.cfg.ID)
	req.Header.Set(headerTime, at)
	req.Header.Set(headerSig, hex.EncodeToString(c.sign(path, c.cfg.ID, at, body)))
	return c.client.Do(req)
}

// writeJSON answers status with v's JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
