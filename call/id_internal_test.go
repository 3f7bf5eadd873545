package call

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// encodeID is base64.RawURLEncoding of the 16 big-endian bytes of hi:lo,
// for every value, the edges included.
func TestEncodeIDIsBase64(t *testing.T) {
	check := func(t interface{ Fatalf(string, ...any) }, hi, lo uint64) {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], hi)
		binary.BigEndian.PutUint64(b[8:], lo)
		if got, want := encodeID(hi, lo), base64.RawURLEncoding.EncodeToString(b[:]); got != want {
			t.Fatalf("encodeID(%#x, %#x) = %q, want %q", hi, lo, got, want)
		}
	}
	for _, v := range []uint64{0, 1, 3, 15, 1 << 62, 1 << 63, 0xfc00_0000_0000_0000, ^uint64(0)} {
		for _, w := range []uint64{0, 1, 3, 15, 1 << 62, 1 << 63, ^uint64(0)} {
			check(t, v, w)
		}
	}
	for bit := range 64 {
		check(t, 1<<bit, 0)
		check(t, 0, 1<<bit)
	}
	rapid.Check(t, func(rt *rapid.T) {
		check(rt, rapid.Uint64().Draw(rt, "hi"), rapid.Uint64().Draw(rt, "lo"))
	})
}

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

// Every ID the default NewID makes is one the Registry takes: invite uses
// it without checking it again. Every character of the alphabet, at each
// of the 22 places, makes a valid ID.
func TestRandomIDsAreValid(t *testing.T) {
	for i := range len(idAlphabet) {
		id := []byte(encodeID(0, 0))
		for j := range id {
			id[j] = idAlphabet[i]
		}
		if !ValidID(string(id)) {
			t.Fatalf("%q is not a valid ID", id)
		}
	}
	for range 1000 {
		if id := randomID(); !ValidID(id) {
			t.Fatalf("randomID() = %q, not a valid ID", id)
		}
	}
}
