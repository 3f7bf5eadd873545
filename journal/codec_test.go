package journal

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// extremeTimes are instants at and beyond the edges of what encoding/json
// writes (years 0–9999) and of Unix seconds in an int64.
var extremeTimes = []time.Time{
	{},
	time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
	time.Date(-292277022399, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(292277026596, 12, 4, 15, 30, 7, 999999999, time.UTC),
	time.Unix(math.MaxInt64, 999999999).UTC(),
	time.Unix(math.MinInt64, 0).UTC(),
	time.Unix(0, 0).UTC(),
	time.Date(2026, 3, 29, 1, 30, 0, 0, time.Local),
	time.Date(1, 1, 1, 0, 0, 0, 0, time.Local),
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 0)),
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("XST", -(12*3600+34*60+56))),
	time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("EDGE", 14*3600)),
}

var ops = []call.Op{call.OpTick, call.OpInvite, call.OpCancel, call.OpAccept, call.OpReject, call.OpCallingInvite,
	call.OpJoin, call.OpQuit, call.OpEnd, call.OpLogin, call.OpLogout, call.OpHeartbeat, call.OpReplay}

// genString gives text, raw bytes (not UTF-8) or "", some long.
func genString(t *rapid.T, label string) string {
	switch rapid.IntRange(0, 3).Draw(t, label+"/kind") {
	case 0:
		return ""
	case 1:
		return string(rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, label+"/bytes"))
	default:
		return rapid.String().Draw(t, label)
	}
}

func genStrings(t *rapid.T, label string) []string {
	switch rapid.IntRange(0, 2).Draw(t, label+"/kind") {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	n := rapid.IntRange(1, 20).Draw(t, label+"/n")
	ss := make([]string, n)
	for i := range ss {
		ss[i] = genString(t, label)
	}
	return ss
}

func genTime(t *rapid.T, label string) time.Time {
	if rapid.Bool().Draw(t, label+"/extreme") {
		return rapid.SampledFrom(extremeTimes).Draw(t, label)
	}
	tm := time.Unix(rapid.Int64().Draw(t, label+"/sec"), rapid.Int64Range(0, 999999999).Draw(t, label+"/nsec"))
	switch rapid.IntRange(0, 2).Draw(t, label+"/zone") {
	case 0:
		return tm.UTC()
	case 1:
		return tm.In(time.Local)
	}
	return tm.In(time.FixedZone(genString(t, label+"/zonename"), rapid.IntRange(-100000, 100000).Draw(t, label+"/offset")))
}

func genEntry(t *rapid.T) call.Entry {
	e := call.Entry{
		At:      genTime(t, "at"),
		User:    genString(t, "user"),
		Device:  genString(t, "device"),
		CallID:  genString(t, "call"),
		Users:   genStrings(t, "users"),
		Timeout: time.Duration(rapid.Int64().Draw(t, "timeout")),
		Mode:    events.Mode(rapid.Uint8().Draw(t, "mode")),
		Data:    genString(t, "data"),
		HostID:  rapid.Bool().Draw(t, "host_id"),
		Admit:   genStrings(t, "admit"),
	}
	if rapid.Bool().Draw(t, "known op") {
		e.Op = rapid.SampledFrom(ops).Draw(t, "op")
	} else {
		e.Op = call.Op(genString(t, "op"))
	}
	if rapid.Bool().Draw(t, "push") {
		e.Push = &events.Push{Title: genString(t, "title"), Content: genString(t, "content"), Payload: genString(t, "payload")}
	}
	return e
}

// sameEntry reports whether got is want after a round trip: every field
// deeply equal; the time the same instant with the same zone name and
// offset, and identical (==) for UTC and Local.
func sameEntry(got, want call.Entry) bool {
	gt, wt := got.At, want.At
	got.At, want.At = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) || !gt.Equal(wt) {
		return false
	}
	gn, goff := gt.Zone()
	wn, woff := wt.Zone()
	if gn != wn || goff != woff {
		return false
	}
	if l := wt.Location(); l == time.UTC || l == time.Local {
		return gt == wt.Round(0)
	}
	return true
}

func TestEntryRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genEntry(t)
		p := appendEntry(nil, e)
		got, err := decodeEntry(p)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !sameEntry(got, e) {
			t.Fatalf("round trip\n got %#v\nwant %#v", got, e)
		}
		// Every proper prefix, and any trailing byte, is refused.
		for n := range len(p) {
			if _, err := decodeEntry(p[:n]); err == nil {
				t.Fatalf("a prefix of %d of %d bytes decoded", n, len(p))
			}
		}
		if _, err := decodeEntry(append(p, 0)); err == nil {
			t.Fatalf("a trailing byte decoded")
		}
	})
}

func TestExtremeTimesRoundTrip(t *testing.T) {
	for _, at := range append(extremeTimes, time.Now()) { // time.Now: a monotonic reading, dropped
		e := call.Entry{Op: call.OpTick, At: at}
		got, err := decodeEntry(appendEntry(nil, e))
		if err != nil || !sameEntry(got, e) {
			t.Errorf("%v (%s): got %v, %v", at, at.Location(), got.At, err)
		}
	}
	// UTC comes back as the zero Time's form, so time.Time{} is == itself.
	got, _ := decodeEntry(appendEntry(nil, call.Entry{}))
	if got.At != (time.Time{}) {
		t.Errorf("zero time came back as %#v", got.At)
	}
}

// TestEntryFields fails when call.Entry gains, loses or retypes a field:
// the codec (appendEntry, decodeEntry), its generator and the format
// version must then follow.
func TestEntryFields(t *testing.T) {
	want := []string{"Op call.Op", "At time.Time", "User string", "Device string", "CallID string",
		"Users []string", "Timeout time.Duration", "Mode events.Mode", "Data string",
		"Push *events.Push", "HostID bool", "Admit []string"}
	var got []string
	for f := range reflect.TypeFor[call.Entry]().Fields() {
		got = append(got, f.Name+" "+f.Type.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("call.Entry has fields\n%q\nthe codec knows\n%q", got, want)
	}
	var pushFields []string
	for f := range reflect.TypeFor[events.Push]().Fields() {
		pushFields = append(pushFields, f.Name+" "+f.Type.String())
	}
	if !slices.Equal(pushFields, []string{"Title string", "Content string", "Payload string"}) {
		t.Fatalf("events.Push has fields %q", pushFields)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendEntry(nil, call.Entry{Op: call.OpInvite, At: time.Unix(1, 2).UTC(), Users: []string{"a"}, Push: &events.Push{}}))
	f.Add(appendEntry(nil, call.Entry{At: extremeTimes[14]}))
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := decodeEntry(p)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes: one encoding per entry.
		if q := appendEntry(nil, e); string(q) != string(p) {
			t.Fatalf("%x decoded, re-encoded as %x", p, q)
		}
	})
}
