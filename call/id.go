package call

import (
	"crypto/rand"
	"encoding/base64"

	"github.com/callsig/callsig/internal/core"
)

// randomID returns 128 random bits as 22 URL-safe characters, so that call
// IDs cannot be guessed (G10 asks for at least 96 bits).
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics when the OS cannot give randomness)
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
