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
// for every call: six bits a character, the last one's low four bits zero,
// each at a constant shift (a loop would compute each shift and check
// each index).
func encodeID(hi, lo uint64) string {
	const a = idAlphabet
	s := [22]byte{
		a[hi>>58], a[hi>>52&63], a[hi>>46&63], a[hi>>40&63], a[hi>>34&63],
		a[hi>>28&63], a[hi>>22&63], a[hi>>16&63], a[hi>>10&63], a[hi>>4&63],
		a[(hi&15)<<2|lo>>62],
		a[lo>>56&63], a[lo>>50&63], a[lo>>44&63], a[lo>>38&63], a[lo>>32&63],
		a[lo>>26&63], a[lo>>20&63], a[lo>>14&63], a[lo>>8&63], a[lo>>2&63],
		a[(lo&3)<<4],
	}
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
