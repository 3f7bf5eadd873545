package call

import (
	"fmt"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/callsig/callsig/events"
)

// The JSON of snapshots, written and read by hand (D2, B6). The writer
// gives the bytes encoding/json gives for the same values (strings escaped
// alike, HTML characters included; times as time.Time's MarshalJSON
// writes them). The reader takes what encoding/json takes for a snapshot
// (white space, escapes, null for a value's zero, members in any order),
// but for member names spelt in another case, and members repeated in one
// object, which it refuses.

// hexDigits are the digits of \u escapes.
const hexDigits = "0123456789abcdef"

// jsonSafe[b] says whether ASCII byte b stands for itself in a JSON string,
// as encoding/json writes one: not a control character, a quote, a
// backslash, or <, > and & (escaped so that the JSON is safe in HTML).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendJSONString appends s as a JSON string, as encoding/json does:
// invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029 are escaped.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonStringLen is the length of what appendJSONString appends.
func jsonStringLen[S string | []byte](s S) int {
	n := 2 + len(s)
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if !jsonSafe[c] {
				switch c {
				case '\\', '"', '\b', '\f', '\n', '\r', '\t':
					n++
				default:
					n += 5
				}
			}
			i++
			continue
		}
		r, size := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5
		case r == '\u2028' || r == '\u2029':
			n += 6 - size
		}
		i += size
	}
	return n
}

func decodeRune[S string | []byte](s S) (rune, int) {
	return utf8.DecodeRuneInString(string(s[:min(len(s), utf8.UTFMax)])) // no copy made
}

// decimalLen is the number of decimal digits of n.
func decimalLen(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// zeroTimeJSON is the zero time.Time as JSON: what most members' deadlines
// are.
const zeroTimeJSON = `"0001-01-01T00:00:00Z"`

// appendJSONTime appends t as time.Time's MarshalJSON does, for the UTC
// times the Registry keeps: RFC 3339 with nanoseconds, trailing zeros cut.
// RFC 3339 has four digits for the year, and MarshalJSON fails outside
// years 0 to 9999, which a clock may read, or a deadline reach after a
// reading near the end of 9999: such a time has ISO 8601's expanded year
// instead, its sign then its digits, at least four ("+10000-01-01T…",
// "-0001-12-31T…"), so that Snapshot never fails.
func appendJSONTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, zeroTimeJSON...)
	}
	t = t.UTC()
	// Formatted aside, then appended: AppendFormat writes nine digits of
	// nanoseconds before it cuts the trailing zeros, which would spill
	// past the end of a buffer sized for the result (see encode).
	var buf [64]byte
	f := append(buf[:0], '"')
	if y := t.Year(); y >= 0 && y <= 9999 {
		f = t.AppendFormat(f, time.RFC3339Nano)
	} else {
		if y < 0 {
			f = append(f, '-')
			f = appendPadded(f, -int64(y), 4)
		} else {
			f = append(f, '+')
			f = strconv.AppendInt(f, int64(y), 10)
		}
		_, month, day := t.Date()
		hour, minute, sec := t.Clock()
		f = appendPadded(append(f, '-'), int64(month), 2)
		f = appendPadded(append(f, '-'), int64(day), 2)
		f = appendPadded(append(f, 'T'), int64(hour), 2)
		f = appendPadded(append(f, ':'), int64(minute), 2)
		f = appendPadded(append(f, ':'), int64(sec), 2)
		if ns := t.Nanosecond(); ns != 0 {
			digits := 9
			for ; ns%10 == 0; ns /= 10 {
				digits--
			}
			f = appendPadded(append(f, '.'), int64(ns), digits)
		}
		f = append(f, 'Z')
	}
	return append(b, append(f, '"')...)
}

// appendPadded appends n, not negative, in at least width digits.
func appendPadded(b []byte, n int64, width int) []byte {
	for d := decimalLen(uint64(n)); d < width; d++ {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, n, 10)
}

// jsonTimeLen is the length of what appendJSONTime appends.
func jsonTimeLen(t time.Time) int {
	n := len(zeroTimeJSON)
	if t.IsZero() {
		return n
	}
	if y := t.Year(); y < 0 {
		n += 1 + max(4, decimalLen(uint64(-int64(y)))) - 4 // a sign, and the digits
	} else if y > 9999 {
		n += 1 + decimalLen(uint64(y)) - 4
	}
	if ns := t.Nanosecond(); ns != 0 {
		n += 10 // a point and nine digits, less the trailing zeros
		for ; ns%10 == 0; ns /= 10 {
			n--
		}
	}
	return n
}

// jsonReader reads the JSON of a snapshot. The first error sticks: every
// read after it returns a zero value, and every loop over an object or
// array ends.
type jsonReader struct {
	b   []byte
	i   int
	err error
	buf []byte // the unescaped text of the last string read with escapes
}

func (d *jsonReader) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("offset %d: %s", d.i, fmt.Sprintf(format, a...))
	}
	d.i = len(d.b)
}

// failWith stops reading with err, an error of the state rather than of
// the bytes.
func (d *jsonReader) failWith(err error) {
	if d.err == nil {
		d.err = err
	}
	d.i = len(d.b)
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *jsonReader) peek() byte {
	for d.i < len(d.b) {
		switch c := d.b[d.i]; c {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return c
		}
	}
	return 0
}

// literal reads the literal s (null, true, false).
func (d *jsonReader) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	d.fail("invalid literal")
	return false
}

// null reads a null, if that is what comes next. Like encoding/json, the
// reader takes null for any value, as the value's zero.
func (d *jsonReader) null() bool {
	return d.peek() == 'n' && d.literal("null")
}

// end checks that nothing but white space is left.
func (d *jsonReader) end() {
	if d.peek() != 0 {
		d.fail("trailing data")
	}
}

// jsonKeys are the member names of one kind of object, in the order
// Snapshot writes them.
type jsonKeys struct {
	names  []string
	quoted []string // `"name":`, as Snapshot writes it
}

func newKeys(names ...string) *jsonKeys {
	k := &jsonKeys{names: names}
	for _, n := range names {
		k.quoted = append(k.quoted, `"`+n+`":`)
	}
	return k
}

// field reads the next member's key of an object, the object's opening
// brace first (first is then true, and set false): it returns false at the
// object's end (or a null), or on an error. seen tracks the keys met, as
// bits of the index in keys, and a key met twice, or not in keys, is an
// error; the index of the key is returned.
func (d *jsonReader) field(first *bool, keys *jsonKeys, seen *uint64) (int, bool) {
	if d.err != nil {
		return 0, false
	}
	c := d.peek()
	if *first {
		*first = false
		if c == 'n' {
			d.literal("null")
			return 0, false
		}
		if c != '{' {
			d.fail("not an object")
			return 0, false
		}
		d.i++
		if d.peek() == '}' {
			d.i++
			return 0, false
		}
	} else {
		switch c {
		case '}':
			d.i++
			return 0, false
		case ',':
			d.i++
		default:
			d.fail("want , or } after an object member")
			return 0, false
		}
	}
	// The way Snapshot writes it: the next of keys not yet seen, quoted,
	// right after the brace or comma, and a colon.
	rest := d.b[d.i:]
	for k := bits.TrailingZeros64(^*seen); k < len(keys.names); k++ {
		if q := keys.quoted[k]; *seen&(1<<k) == 0 && len(rest) >= len(q) && string(rest[:len(q)]) == q {
			*seen |= 1 << k
			d.i += len(q)
			return k, true
		}
	}
	if d.peek() != '"' {
		d.fail("want a member name")
		return 0, false
	}
	key := d.rawString()
	if d.peek() != ':' {
		d.fail("want : after a member name")
		return 0, false
	}
	d.i++
	for k, name := range keys.names {
		if string(key) == name {
			if *seen&(1<<k) != 0 {
				d.fail("member %q repeated", name)
				return 0, false
			}
			*seen |= 1 << k
			return k, d.err == nil
		}
	}
	d.fail("unknown member %q", key)
	return 0, false
}

// elem reads up to the next element of an array, the array's opening
// bracket first (first is then true, and set false): it returns false at
// the array's end (or a null), or on an error.
func (d *jsonReader) elem(first *bool) bool {
	if d.err != nil {
		return false
	}
	c := d.peek()
	if *first {
		*first = false
		if c == 'n' {
			d.literal("null")
			return false
		}
		if c != '[' {
			d.fail("not an array")
			return false
		}
		d.i++
		if d.peek() == ']' {
			d.i++
			return false
		}
		return true
	}
	switch c {
	case ']':
		d.i++
		return false
	case ',':
		d.i++
		return true
	}
	d.fail("want , or ] after an array element")
	return false
}

// rawString reads a string and returns its text, unescaped: a slice of the
// input when it needs no unescaping, else of d.buf, valid until the next
// string read.
func (d *jsonReader) rawString() []byte {
	if d.peek() != '"' {
		d.fail("not a string")
		return nil
	}
	d.i++
	start, i := d.i, d.i
	for i < len(d.b) && !strStop[d.b[i]] {
		i++
	}
	switch {
	case i == len(d.b):
		d.fail("unterminated string")
		return nil
	case d.b[i] == '"':
		d.i = i + 1
		return d.b[start:i]
	}
	d.i = i
	return d.slowString(start)
}

// strStop[c] says whether rawString stops at byte c: the closing quote,
// or one that takes more than a copy (an escape, a control character that
// is an error, UTF-8 to check).
var strStop = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < ' ' || c >= utf8.RuneSelf
	}
	return t
}()

// slowString unescapes the string that starts at start, as encoding/json
// does: invalid UTF-8, and invalid surrogates, become U+FFFD.
func (d *jsonReader) slowString(start int) []byte {
	out := append(d.buf[:0], d.b[start:d.i]...)
	i := d.i
	for i < len(d.b) {
		switch c := d.b[i]; {
		case c == '"':
			d.i, d.buf = i+1, out
			return out
		case c < ' ':
			d.i = i
			d.fail("control character in a string")
			return nil
		case c == '\\':
			if i+1 >= len(d.b) {
				d.i = i
				d.fail("unterminated string")
				return nil
			}
			i++
			switch e := d.b[i]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(d.b[i+1:])
				if !ok {
					d.i = i
					d.fail("invalid \\u escape")
					return nil
				}
				i += 4 // at the escape's last digit
				if utf16.IsSurrogate(r) {
					pair := utf8.RuneError
					if len(d.b) > i+2 && d.b[i+1] == '\\' && d.b[i+2] == 'u' {
						if r2, ok := hex4(d.b[i+3:]); ok {
							pair = utf16.DecodeRune(r, r2)
						}
					}
					if r = pair; r != utf8.RuneError {
						i += 6 // a valid pair: the second escape is read too
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				d.i = i
				d.fail("invalid escape")
				return nil
			}
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.b[i:])
			out = utf8.AppendRune(out, r) // RuneError for invalid UTF-8
			i += size
		}
	}
	d.i = len(d.b)
	d.fail("unterminated string")
	return nil
}

// hex4 reads the 4 hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// str reads a string (null: "").
func (d *jsonReader) str() string {
	if d.null() {
		return ""
	}
	return string(d.rawString())
}

// strOf reads a string, returning one of known instead of a copy when it
// is equal: a call's user IDs come several times (caller, members,
// inviters), and the Registry keeps them once.
func (d *jsonReader) strOf(known ...string) string {
	if d.null() {
		return ""
	}
	v := d.rawString()
	for _, s := range known {
		if string(v) == s {
			return s
		}
	}
	return string(v)
}

// number reads a number and returns its text.
func (d *jsonReader) number() []byte {
	d.peek()
	start, i := d.i, d.i
	if i < len(d.b) && d.b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d.b) && '0' <= d.b[i] && d.b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch n := digits(); {
	case n == 0 || n > 1 && d.b[i-n] == '0':
		d.fail("invalid number")
		return nil
	}
	if i < len(d.b) && d.b[i] == '.' {
		i++
		if digits() == 0 {
			d.fail("invalid number")
			return nil
		}
	}
	if i < len(d.b) && (d.b[i] == 'e' || d.b[i] == 'E') {
		i++
		if i < len(d.b) && (d.b[i] == '+' || d.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.fail("invalid number")
			return nil
		}
	}
	d.i = i
	return d.b[start:i]
}

// u64 reads an integer in [0, max uint64] (null: 0).
func (d *jsonReader) u64() uint64 {
	if d.null() {
		return 0
	}
	num := d.number()
	var v uint64
	for _, c := range num {
		if c < '0' || c > '9' {
			d.fail("%s is not an unsigned integer", num)
			return 0
		}
		if v > (1<<64-1)/10 || v*10 > 1<<64-1-uint64(c-'0') {
			d.fail("%s overflows", num)
			return 0
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}

// i64 reads an integer that fits an int64 (null: 0).
func (d *jsonReader) i64() int64 {
	if d.null() {
		return 0
	}
	num := d.number()
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil && d.err == nil {
		d.fail("%s is not an integer", num)
	}
	return v
}

// boolean reads true or false (null: false).
func (d *jsonReader) boolean() bool {
	switch d.peek() {
	case 't':
		return d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	default:
		d.fail("not a boolean")
	}
	return false
}

// time reads a time as time.Time's UnmarshalJSON does (null: zero), in UTC
// with no monotonic reading, as the Registry keeps times.
func (d *jsonReader) time() time.Time {
	if d.null() {
		return time.Time{}
	}
	v := d.rawString()
	if string(v) == zeroTimeJSON[1:len(zeroTimeJSON)-1] {
		return time.Time{}
	}
	if t, ok := parseTime(v); ok {
		return t
	}
	if t, ok := parseExpandedTime(v); ok {
		return t
	}
	var t time.Time
	if err := t.UnmarshalText(v); err != nil && d.err == nil {
		d.fail("%v", err)
	}
	return t.Round(0).UTC()
}

// parseTime parses a time in the form appendJSONTime writes,
// "YYYY-MM-DDTHH:MM:SS[.F]Z" with one to nine digits F, as time.Time's
// UnmarshalText does, only faster; ok is false for any other form (an
// offset, a value out of range), which the caller leaves to UnmarshalText.
func parseTime(b []byte) (t time.Time, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return t, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return t, false
	}
	ns := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		n, ok := digits(frac[1:])
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 || !ok {
			return t, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		ns = n
	}
	// Days since 1970-01-01 of a proleptic Gregorian date (Howard
	// Hinnant's days_from_civil).
	y := year
	if month <= 2 {
		y--
	}
	era := (y - 399*b2int(y < 0)) / 400
	yoe := y - era*400
	doy := (153*((month+9)%12)+2)/5 + day - 1
	days := era*146097 + yoe*365 + yoe/4 - yoe/100 + doy - 719468
	return time.Unix(int64(days)*86400+int64(hour*3600+minute*60+sec), int64(ns)).UTC(), true
}

// parseExpandedTime parses a time with an expanded year, as
// appendJSONTime writes one: "+YYYYY…" for a year after 9999, "-YYYY…" for
// one before 0, the year's digits without leading zeros but to make four,
// then "-MM-DDTHH:MM:SS[.F]Z" as parseTime reads it.
func parseExpandedTime(b []byte) (time.Time, bool) {
	if len(b) < 2 || b[0] != '+' && b[0] != '-' {
		return time.Time{}, false
	}
	n := 1
	for n < len(b) && '0' <= b[n] && b[n] <= '9' {
		n++
	}
	digits := b[1:n]
	switch {
	case len(digits) > 12: // time.Time ends in year 292277026596
		return time.Time{}, false
	case b[0] == '+' && (len(digits) < 5 || digits[0] == '0'):
		return time.Time{}, false
	case b[0] == '-' && (len(digits) < 4 || len(digits) > 4 && digits[0] == '0' || string(digits) == "0000"):
		return time.Time{}, false
	}
	year := int64(0)
	for _, c := range digits {
		year = year*10 + int64(c-'0')
	}
	if b[0] == '-' {
		year = -year
	}
	// The rest, after a year that parseTime reads: its date and time,
	// checked and taken from there, in a leap year or not as this one is.
	rest := append([]byte("2000"), b[n:]...)
	if year%4 != 0 || year%100 == 0 && year%400 != 0 {
		rest[3] = '1' // 2001: no 29 February
	}
	t, ok := parseTime(rest)
	if !ok {
		return time.Time{}, false
	}
	month, day := t.Month(), t.Day()
	hour, minute, sec := t.Clock()
	return time.Date(int(year), month, day, hour, minute, sec, t.Nanosecond(), time.UTC), true
}

// digits reads a run of decimal digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func b2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// daysIn returns the number of days in month of year.
func daysIn(month, year int) int {
	if month == 2 {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (month+month/8)%2
}

// mode reads a call's mode by name.
func (d *jsonReader) mode() events.Mode {
	v := d.rawString()
	m, ok := events.ParseMode(string(v))
	if !ok && d.err == nil {
		d.fail("unknown mode %q", v)
	}
	return m
}

// state reads a member's state by name.
func (d *jsonReader) state() events.State {
	v := d.rawString()
	s, ok := events.ParseState(string(v))
	if !ok && d.err == nil {
		d.fail("unknown state %q", v)
	}
	return s
}

// maxSkipDepth bounds the nesting skip follows.
const maxSkipDepth = 10000

// skip reads one value of any kind, checking it.
func (d *jsonReader) skip(depth int) {
	if depth > maxSkipDepth {
		d.fail("nested too deep")
		return
	}
	switch c := d.peek(); {
	case c == '{':
		d.i++
		if d.peek() == '}' {
			d.i++
			return
		}
		for d.err == nil {
			d.rawString()
			if d.peek() != ':' {
				d.fail("want : after a member name")
				return
			}
			d.i++
			d.skip(depth + 1)
			switch d.peek() {
			case ',':
				d.i++
			case '}':
				d.i++
				return
			default:
				d.fail("want , or } after an object member")
			}
		}
	case c == '[':
		for first := true; d.elem(&first); {
			d.skip(depth + 1)
		}
	case c == '"':
		d.rawString()
	case c == 't':
		d.literal("true")
	case c == 'f':
		d.literal("false")
	case c == 'n':
		d.literal("null")
	default:
		d.number()
	}
}
