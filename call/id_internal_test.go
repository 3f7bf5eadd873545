package call

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
)

// Every generator of the pool is seeded afresh from crypto/rand: two of
// them never draw the same bytes (a fixed or shared seed would).
func TestIDSourcesSeededApart(t *testing.T) {
	var a, b [16]byte
	_, _ = idSources.New().(*rand.ChaCha8).Read(a[:])
	_, _ = idSources.New().(*rand.ChaCha8).Read(b[:])
	if bytes.Equal(a[:], b[:]) {
		t.Fatalf("two generators drew %x alike", a)
	}
}

// IDs made by goroutines at once, each from a generator of the pool, are
// all distinct (run with -race, the pool must hand a generator to one
// goroutine at a time).
func TestRandomIDsConcurrent(t *testing.T) {
	const goroutines, each = 8, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = randomID()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if len(id) != 22 || seen[id] {
					t.Errorf("call ID %q: want 22 characters, never made twice", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}
