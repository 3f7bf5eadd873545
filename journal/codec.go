package journal

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// The payload of a record is one call.Entry in this package's own binary
// encoding, version formatVersion of the segment header:
//
//	op       string
//	at       time
//	user     string
//	device   string
//	call     string
//	users    strings
//	timeout  varint (zig-zag int64, nanoseconds)
//	mode     uvarint (events.Mode)
//	data     string
//	push     byte 0 (nil) or 1, then title, content, payload as strings
//	host_id  byte 0 or 1
//	admit    strings
//
// where a string is a uvarint length and its bytes (any bytes, not only
// UTF-8), strings is a uvarint 0 for a nil slice or n+1 followed by n
// strings (so nil and empty slices stay apart), and a time is
//
//	zone     byte: 0 UTC, 1 Local, 2 a fixed zone: its name (string) and
//	         offset (varint seconds east of UTC)
//	seconds  varint: t.Unix(), which wraps for instants beyond the int64
//	         range of Unix seconds exactly as time.Unix unwraps them
//	nanos    uvarint: t.Nanosecond()
//
// so every time.Time round-trips to the same instant, whatever its year,
// in the same zone: UTC and Local come back identical (==), any other
// location as a fixed zone with the same name and offset. A monotonic
// clock reading is not kept (it means nothing after a restart). Decoding
// consumes the payload exactly and takes only the shortest varints, so an
// entry has one encoding: anything else is an error.

const (
	zoneUTC   = 0
	zoneLocal = 1
	zoneFixed = 2
)

var errPayload = errors.New("malformed entry")

// appendEntry appends the encoding of e to b.
func appendEntry(b []byte, e call.Entry) []byte {
	b = appendString(b, string(e.Op))
	b = appendTime(b, e.At)
	b = appendString(b, e.User)
	b = appendString(b, e.Device)
	b = appendString(b, e.CallID)
	b = appendStrings(b, e.Users)
	b = binary.AppendVarint(b, int64(e.Timeout))
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = appendString(b, e.Data)
	if e.Push == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, e.Push.Title)
		b = appendString(b, e.Push.Content)
		b = appendString(b, e.Push.Payload)
	}
	b = appendBool(b, e.HostID)
	b = appendStrings(b, e.Admit)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ss))+1)
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendTime(b []byte, t time.Time) []byte {
	switch loc := t.Location(); {
	case loc == time.UTC:
		b = append(b, zoneUTC)
	case loc == time.Local:
		b = append(b, zoneLocal)
	default:
		name, off := t.Zone()
		b = append(b, zoneFixed)
		b = appendString(b, name)
		b = binary.AppendVarint(b, int64(off))
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// decoder reads a payload; the first malformed field sets err and every
// later read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

// decodeEntry decodes one payload written by appendEntry.
func decodeEntry(p []byte) (call.Entry, error) {
	d := decoder{b: p}
	var e call.Entry
	e.Op = call.Op(d.string())
	e.At = d.time()
	e.User = d.string()
	e.Device = d.string()
	e.CallID = d.string()
	e.Users = d.strings()
	e.Timeout = time.Duration(d.varint())
	if m := d.uvarint(); m > math.MaxUint8 {
		d.fail()
	} else {
		e.Mode = events.Mode(m)
	}
	e.Data = d.string()
	switch d.byte() {
	case 0:
	case 1:
		e.Push = &events.Push{Title: d.string(), Content: d.string(), Payload: d.string()}
	default:
		d.fail()
	}
	e.HostID = d.bool()
	e.Admit = d.strings()
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return call.Entry{}, d.err
	}
	return e, nil
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errPayload
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != uvarintLen(v) { // one encoding per value
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n != uvarintLen(uint64(v)<<1^uint64(v>>63)) {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uvarintLen is the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	n--
	if n > uint64(len(d.b)) { // every string takes at least one byte
		d.fail()
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	if d.err != nil {
		return nil
	}
	return ss
}

func (d *decoder) time() time.Time {
	var loc *time.Location
	switch d.byte() {
	case zoneUTC:
		loc = time.UTC
	case zoneLocal:
		loc = time.Local
	case zoneFixed:
		name := d.string()
		off := d.varint()
		if off < math.MinInt32 || off > math.MaxInt32 {
			d.fail()
		}
		loc = time.FixedZone(name, int(off))
	default:
		d.fail()
	}
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil || nsec >= uint64(time.Second) {
		d.fail()
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if loc == time.UTC {
		return t.UTC() // the zero Time's form: UTC with no location pointer
	}
	return t.In(loc)
}
