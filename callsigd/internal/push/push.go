// Package push delivers callsigd's offline events to a webhook: each is
// POSTed as {"to": user, "event": {…}} with Content-Type application/json.
//
// The Webhook never blocks its caller: Enqueue puts the push in a bounded
// queue and returns, and when the queue is full the push is dropped and
// counted. Pushes of one call go out in the order they were enqueued, which
// is Seq order (a cancel never overtakes the invitation it cancels): the
// queue is split in shards by call ID, and each shard's one worker sends
// its pushes one after the other, retrying each with exponential backoff
// before it takes the next. A slow or dead webhook thus loses pushes,
// never calls, and holds back only the calls of its shard.
package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// The outcomes a Webhook counts, as its Count hook receives them.
const (
	Queued    = "queued"    // taken into the queue
	Sent      = "sent"      // the webhook answered 2xx
	Retried   = "retried"   // an attempt failed and another follows
	Failed    = "failed"    // every attempt failed, or the webhook refused it (4xx): dropped
	Dropped   = "dropped"   // the queue was full, or the Webhook stopped: dropped unsent
	Abandoned = "abandoned" // Close's deadline passed before it went out
)

// Options configure a Webhook. Zero fields take their defaults.
type Options struct {
	Client      *http.Client  // nil: a client with a 5 s timeout
	Shards      int           // independent queues, each with one worker; 0: 4
	QueueLen    int           // pushes each shard holds; 0: 1024
	MaxAttempts int           // attempts per push; 0: 5
	Backoff     time.Duration // the wait after the first failed attempt, doubled after each; 0: 200 ms
	MaxBackoff  time.Duration // the longest wait; 0: 10 s
	Logger      *slog.Logger  // nil: slog.Default()
	Count       func(outcome string)
}

// Webhook posts offline events to one URL. It is safe for concurrent use.
type Webhook struct {
	url    string
	o      Options
	seed   maphash.Seed
	shards []chan job
	ctx    context.Context // cancelled by Close once its deadline passes: attempts and waits stop
	cancel context.CancelFunc
	mu     sync.RWMutex // Enqueue holds it for reading; Close for writing, to close the shards
	closed bool
	wg     sync.WaitGroup
}

type job struct {
	to, callID string
	body       []byte
}

// New starts a Webhook posting to url, with its workers.
func New(url string, o Options) *Webhook {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if o.Shards <= 0 {
		o.Shards = 4
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 1024
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	w := &Webhook{url: url, o: o, seed: maphash.MakeSeed(), shards: make([]chan job, o.Shards)}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for i := range w.shards {
		w.shards[i] = make(chan job, o.QueueLen)
		w.wg.Add(1)
		go w.work(w.shards[i])
	}
	return w
}

// Body returns the webhook's request body for an event to user to: event
// is the event's JSON, as a connection would get it, and goes in as it is
// (it is checked to be JSON, not encoded again).
func Body(to string, event []byte) ([]byte, error) {
	if !json.Valid(event) {
		return nil, errors.New("the event is not JSON")
	}
	q, err := json.Marshal(to)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(`{"to":,"event":}`)+len(q)+len(event))
	b = append(append(append(append(b, `{"to":`...), q...), `,"event":`...), event...)
	return append(b, '}'), nil
}

// Enqueue queues the push of event (its JSON) to user to, without
// blocking: it drops the push, and counts it Dropped, when the call's
// shard is full or the Webhook is closed. Pushes of one callID keep the
// order of their Enqueue calls, which a caller makes in Seq order.
func (w *Webhook) Enqueue(to, callID string, event []byte) {
	body, err := Body(to, event)
	if err != nil { // event is not JSON: a bug of the caller's
		w.o.Logger.Error("push: cannot encode", "to", to, "call_id", callID, "err", err)
		w.o.Count(Dropped)
		return
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.o.Count(Dropped)
		return
	}
	select {
	case w.shards[maphash.String(w.seed, callID)%uint64(len(w.shards))] <- job{to, callID, body}:
		w.o.Count(Queued)
	default:
		w.o.Count(Dropped)
		w.o.Logger.Warn("push: queue full, push dropped", "to", to, "call_id", callID)
	}
}

// Close stops taking pushes and waits until those queued have gone out,
// or ctx is done: then it abandons the rest (counted Abandoned) and stops
// the attempt under way.
func (w *Webhook) Close(ctx context.Context) {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		for _, s := range w.shards {
			close(s)
		}
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.cancel()
		<-done
	}
	w.cancel()
}

// work sends the pushes of one shard, in order.
func (w *Webhook) work(q <-chan job) {
	defer w.wg.Done()
	for j := range q {
		if w.ctx.Err() != nil {
			w.o.Count(Abandoned)
			continue
		}
		w.send(j)
	}
}

// send makes up to MaxAttempts attempts at j, waiting between them.
func (w *Webhook) send(j job) {
	wait := w.o.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(j.body)
		if err == nil {
			w.o.Count(Sent)
			return
		}
		if !retry || attempt == w.o.MaxAttempts {
			w.o.Count(Failed)
			w.o.Logger.Warn("push: failed, dropped", "to", j.to, "call_id", j.callID, "attempts", attempt, "err", err)
			return
		}
		w.o.Count(Retried)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			w.o.Count(Abandoned)
			return
		}
		wait = min(2*wait, w.o.MaxBackoff)
	}
}

// post makes one attempt. It says whether a failure is worth retrying: a
// network error, 429 or 5xx is; another status is the webhook's refusal.
func (w *Webhook) post(body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return false, fmt.Errorf("webhook answered %s", resp.Status)
	}
}
