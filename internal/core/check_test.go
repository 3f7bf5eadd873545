package core

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// validIDPlain is ValidID's definition, one rune at a time.
func validIDPlain(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// ValidID reads eight bytes at a time: it must agree with the definition
// whatever byte sits wherever in the word, the boundary bytes around 0x20,
// 0x7f and 0x80 above all.
func TestValidIDMatchesDefinition(t *testing.T) {
	edge := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 'a', 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xc2, 0xe2, 0xff}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, MaxIDLen+2).Draw(t, "len")
		b := make([]byte, n)
		for i := range b {
			b[i] = 'x'
		}
		for k := rapid.IntRange(0, 3).Draw(t, "odd"); k > 0 && n > 0; k-- {
			i := rapid.IntRange(0, n-1).Draw(t, "at")
			b[i] = rapid.SampledFrom(edge).Draw(t, "byte")
		}
		if rapid.Bool().Draw(t, "rune") && n > 0 {
			r := rapid.SampledFrom([]rune{'é', '\u200b', '\u2028', '\u0085', '\u00ad', '中', '\U0001F600', '\ufeff'}).Draw(t, "r")
			i := rapid.IntRange(0, n-1).Draw(t, "at")
			b = append(b[:i], append([]byte(string(r)), b[i:]...)...)
		}
		s := string(b)
		if got, want := ValidID(s), validIDPlain(s); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", s, got, want)
		}
	})
}

// Every single byte at every position of a 16-byte ID.
func TestValidIDEveryByte(t *testing.T) {
	for pos := range 16 {
		for c := range 256 {
			b := []byte("abcdefghijklmnop")
			b[pos] = byte(c)
			s := string(b)
			if got, want := ValidID(s), validIDPlain(s); got != want {
				t.Fatalf("ValidID(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

// Every byte at every position of IDs of every length up to 24, so that
// the word read at the end of an ID whose length is not a multiple of
// eight meets each byte in each place.
func TestValidIDEveryByteEveryLength(t *testing.T) {
	for n := 1; n <= 24; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte("abcdefghijklmnopqrstuvwx"[:n])
				b[pos] = byte(c)
				s := string(b)
				if got, want := ValidID(s), validIDPlain(s); got != want {
					t.Fatalf("ValidID(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}
