package call

import (
	crand "crypto/rand"
	"encoding/base64"
	"math/rand/v2"
	"sync"

	"github.com/callsig/callsig/internal/core"
)

// idSources are the generators randomID draws from: ChaCha8, which
// math/rand/v2 documents as a cryptographically strong generator, each
// seeded with 256 bits from crypto/rand when it is made. ChaCha8 erases
// its key as it goes, so its state tells nothing of IDs already made. A
// pool, so that goroutines making IDs at once draw from generators of
// their own, with no lock between them.
var idSources = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never fails (it panics when the OS cannot give randomness)
	return rand.NewChaCha8(seed)
}}

// randomID returns 128 random bits as 22 URL-safe characters, so that call
// IDs cannot be guessed (G10 asks for at least 96 bits).
func randomID() string {
	var b [16]byte
	g := idSources.Get().(*rand.ChaCha8)
	_, _ = g.Read(b[:]) // ChaCha8's Read never fails
	idSources.Put(g)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidID reports whether the Registry takes id as a user or call ID: 1 to
// 128 bytes of UTF-8 with no control (Cc) or format (Cf) character
// (RULES.md §2). A host checks IDs with it before they reach a Registry,
// in its tokens say, by the same rule the commands apply.
func ValidID(id string) bool { return core.ValidID(id) }

// ValidDevice reports whether the Registry takes id as a device ID: the
// default device "", or what ValidID takes.
func ValidDevice(id string) bool { return core.ValidDevice(id) }
