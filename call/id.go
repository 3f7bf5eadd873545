package call

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"

	"github.com/callsig/callsig/internal/core"
)

// idSources are the generators randomID draws from: ChaCha8, which
// math/rand/v2 documents as a cryptographically strong generator, each
// seeded with 256 bits from crypto/rand when it is made. ChaCha8 rekeys
// itself as it goes, so its state soon tells nothing of the IDs it made
// (a dump of the process's memory may show the most recent ones). A
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
	g := idSources.Get().(*rand.ChaCha8)
	hi, lo := g.Uint64(), g.Uint64()
	idSources.Put(g)
	return encodeID(hi, lo)
}

// idAlphabet is base64's URL-safe alphabet (RFC 4648 §5).
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// encodeID returns the 128 bits hi:lo as 22 characters of URL-safe base64
// without padding: what base64.RawURLEncoding makes of their 16 bytes in
// big-endian order. Written out for the one length, since an ID is made
// for every call: six bits a character, the last one's low four bits zero.
func encodeID(hi, lo uint64) string {
	var s [22]byte
	for i := range 10 {
		s[i] = idAlphabet[hi>>(58-6*i)&63]
	}
	s[10] = idAlphabet[(hi&15)<<2|lo>>62]
	for i := range 10 {
		s[11+i] = idAlphabet[lo>>(56-6*i)&63]
	}
	s[21] = idAlphabet[(lo&3)<<4]
	return string(s[:])
}

// ValidID reports whether the Registry takes id as a user or call ID: 1 to
// 128 bytes of UTF-8 with no control (Cc) or format (Cf) character
// (RULES.md §2). A host checks IDs with it before they reach a Registry,
// in its tokens say, by the same rule the commands apply.
func ValidID(id string) bool { return core.ValidID(id) }

// ValidDevice reports whether the Registry takes id as a device ID: the
// default device "", or what ValidID takes.
func ValidDevice(id string) bool { return core.ValidDevice(id) }
