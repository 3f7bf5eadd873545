package call

import (
	"strconv"

	"github.com/callsig/callsig/events"
	"unicode"
	"unicode/utf8"
)

// maxIDLen is the longest user, device or call ID, in bytes.
const maxIDLen = 128

// validID reports whether s is a well-formed user ID (and call and device
// ID): 1–128 bytes of UTF-8 with no control (Cc) or format (Cf) character.
// Format characters are refused because zero-width joiners and bidi
// overrides let two IDs that look alike differ.
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			return validUnicodeID(s[i:])
		}
	}
	return true
}

func validUnicodeID(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// validDevice reports whether s is a device ID: "" (the default device) or
// anything validID accepts.
func validDevice(s string) bool { return s == "" || validID(s) }

// validPush reports whether p's fields fit in maxData bytes together.
func validPush(p *events.Push, maxData int) bool {
	return p == nil || len(p.Title)+len(p.Content)+len(p.Payload) <= maxData
}

// quoteID quotes an ID for an error message, cut short if it is long.
func quoteID(s string) string {
	if len(s) > maxIDLen {
		cut := maxIDLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}
