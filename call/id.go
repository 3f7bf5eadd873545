package call

import (
	"crypto/rand"
	"encoding/base64"
)

// randomID returns 128 random bits as 22 URL-safe characters, so that call
// IDs cannot be guessed (G10 asks for at least 96 bits).
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics when the OS cannot give randomness)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
