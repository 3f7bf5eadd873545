package push

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// counts is a Count hook that tallies outcomes.
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) count(o string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[o]++
}

func (c *counts) get(o string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[o]
}

type received struct {
	To    string `json:"to"`
	Event struct {
		CallID string `json:"call_id"`
		Seq    int    `json:"seq"`
	} `json:"event"`
}

// A push that fails is retried before the next push of its call goes:
// a cancel never overtakes its invitation.
func TestOrderPerCallAcrossRetries(t *testing.T) {
	var mu sync.Mutex
	var got []received
	failed := map[string]bool{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var m received
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if m.Event.Seq == 2 && !failed[m.Event.CallID] { // each invitation fails once
			failed[m.Event.CallID] = true
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got = append(got, m)
	}))
	defer hook.Close()
	c := &counts{}
	w := New(hook.URL, Options{Backoff: time.Millisecond, Count: c.count, Shards: 2})
	for _, id := range []string{"c1", "c2", "c3"} {
		w.Enqueue("bob", id, []byte(`{"type":"event","call_id":"`+id+`","seq":2}`))
		w.Enqueue("bob", id, []byte(`{"type":"event","call_id":"`+id+`","seq":3}`))
	}
	w.Close(context.Background())
	last := map[string]int{}
	for _, m := range got {
		if m.To != "bob" || m.Event.Seq <= last[m.Event.CallID] {
			t.Fatalf("pushes out of order or misaddressed: %+v", got)
		}
		last[m.Event.CallID] = m.Event.Seq
	}
	if len(got) != 6 || c.get(Sent) != 6 || c.get(Retried) != 3 || c.get(Queued) != 6 {
		t.Fatalf("got %d pushes, counts %v", len(got), c.n)
	}
}

// A full queue drops the push at once, and counts it; the caller never waits.
func TestFullQueueDrops(t *testing.T) {
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer hook.Close()
	c := &counts{}
	w := New(hook.URL, Options{Shards: 1, QueueLen: 1, Count: c.count})
	w.Enqueue("bob", "c1", []byte(`{}`))
	<-arrived                            // the worker holds the first
	w.Enqueue("bob", "c1", []byte(`{}`)) // queued
	w.Enqueue("bob", "c1", []byte(`{}`)) // dropped
	if c.get(Dropped) != 1 {
		t.Fatalf("counts %v, want one dropped", c.n)
	}
	close(release)
	w.Close(context.Background())
	if c.get(Sent) != 2 {
		t.Fatalf("counts %v, want two sent", c.n)
	}
	w.Enqueue("bob", "c1", []byte(`{}`)) // after Close: dropped, no panic
	if c.get(Dropped) != 2 {
		t.Fatalf("counts %v, want a push after Close dropped", c.n)
	}
}

// A refusal (4xx) is not retried; a dead webhook is abandoned when Close's
// deadline passes.
func TestRefusedAndAbandoned(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	c := &counts{}
	w := New(hook.URL+"/refuse", Options{Count: c.count})
	w.Enqueue("bob", "c1", []byte(`{}`))
	w.Close(context.Background())
	if c.get(Failed) != 1 || calls != 1 {
		t.Fatalf("a refused push: %d attempts, counts %v", calls, c.n)
	}

	c = &counts{}
	w = New(hook.URL, Options{Shards: 1, Backoff: time.Hour, Count: c.count})
	w.Enqueue("bob", "c1", []byte(`{}`))
	w.Enqueue("bob", "c2", []byte(`{}`))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w.Close(ctx) // returns once the deadline passes, not after an hour
	if c.get(Abandoned) != 2 || c.get(Retried) != 1 {
		t.Fatalf("counts %v, want both abandoned after one retry", c.n)
	}
}

// Body puts the event's JSON in as it is, beside the quoted user, and
// refuses what is not JSON.
func TestBody(t *testing.T) {
	b, err := Body(`bo"b`, []byte(`{"kind":"InvitationReceived","seq":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"to":"bo\"b","event":{"kind":"InvitationReceived","seq":1}}`; string(b) != want {
		t.Fatalf("body %s, want %s", b, want)
	}
	if _, err := Body("bob", []byte(`{"kind":`)); err == nil {
		t.Fatal("a body made of an event that is not JSON")
	}
}

// Retries are bounded: a webhook that keeps answering 5xx or 429 gets
// MaxAttempts attempts at a push, which then counts Failed once, and the
// next push of the call goes on.
func TestRetriesBounded(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		var mu sync.Mutex
		calls := 0
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls++
			mu.Unlock()
			w.WriteHeader(status)
		}))
		c := &counts{}
		w := New(hook.URL, Options{Shards: 1, MaxAttempts: 3, Backoff: time.Millisecond, Count: c.count})
		w.Enqueue("bob", "c1", []byte(`{}`))
		w.Enqueue("bob", "c1", []byte(`{}`))
		w.Close(context.Background())
		hook.Close()
		if calls != 6 || c.get(Failed) != 2 || c.get(Retried) != 4 || c.get(Sent) != 0 {
			t.Fatalf("status %d: %d attempts, counts %v; want 3 attempts and one Failed per push", status, calls, c.n)
		}
	}
}
