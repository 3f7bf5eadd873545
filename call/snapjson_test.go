package call

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written JSON of snapshots against encoding/json and time's own
// parser (D2): strings and times come back as they did through them.

func TestParseTimeAsTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	var cases []string
	for range 100_000 {
		at := time.Unix(lo+rng.Int64N(hi-lo+1), 0).UTC()
		switch rng.IntN(3) {
		case 1:
			at = at.Add(time.Duration(rng.IntN(1e9)))
		case 2:
			at = at.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		}
		cases = append(cases, at.Format(time.RFC3339Nano))
	}
	cases = append(cases,
		"0000-01-01T00:00:00Z", "0000-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T12:00:00Z",
		"2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-12-31T23:59:60Z", "2026-13-01T00:00:00Z",
		"2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
		"2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.1234567891Z",
		"2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00,5Z", "2026-1-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
		"1969-12-31T23:59:59.999999999Z", "1970-01-01T00:00:00Z", "2026-01-01t00:00:00Z", "+026-01-01T00:00:00Z")
	for _, s := range cases {
		var want time.Time
		wantErr := want.UnmarshalText([]byte(s))
		got, ok := parseTime([]byte(s))
		if ok && (wantErr != nil || !got.Equal(want) || got.Location() != time.UTC) {
			t.Fatalf("parseTime(%s) = %v, time says %v, %v", s, got, want, wantErr)
		}
		d := jsonReader{b: []byte(`"` + s + `"`)}
		got = d.time()
		if (d.err != nil) != (wantErr != nil) || wantErr == nil && (!got.Equal(want) || got.Location() != time.UTC) {
			t.Fatalf("time(%s) = %v, %v; time says %v, %v", s, got, d.err, want, wantErr)
		}
	}
}

func TestJSONStringsAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "é", "\u2028", "\u2029", "<", ">", "&", `"`, `\`, "\x00", "\x1f", "\x7f", "\xff", "\xed\xa0\x80",
		"\U0001F600", "\t", "\n", "/", "\ufffd"}
	for range 20_000 {
		var s string
		for range rng.IntN(8) {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json %s", s, got, want)
		}
		if n := jsonStringLen(s); n != len(want) {
			t.Fatalf("jsonStringLen(%q) = %d, want %d", s, n, len(want))
		}
	}
	escapes := []string{`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0041`, `\u00e9`, `\ud83d\ude00`, `\ud83d`,
		`\ude00`, `\ud83dx`, `\ud83d\u0041`, `\u2028`, "é", "\xff", "x", `\x`, `\u12`, "\x01", `\uD83D\uDE00`}
	for range 20_000 {
		raw := `"`
		for range rng.IntN(6) {
			raw += escapes[rng.IntN(len(escapes))]
		}
		raw += `"`
		var want string
		wantErr := json.Unmarshal([]byte(raw), &want)
		d := jsonReader{b: []byte(raw)}
		got := d.str()
		if (d.err != nil) != (wantErr != nil) || wantErr == nil && got != want {
			t.Fatalf("str(%s) = %q, %v; encoding/json %q, %v", raw, got, d.err, want, wantErr)
		}
	}
}

// TestJSONTimeAnyYear: every time a clock may read is written, and read
// back the same (D2): RFC 3339 as time.Time's MarshalJSON writes it for
// years 0 to 9999, an expanded year beyond.
func TestJSONTimeAnyYear(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ts := []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 9, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 5e8, time.UTC),
		time.Date(-4, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(10400, 2, 29, 0, 0, 0, 1, time.UTC),
		time.Date(-10000, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(292277026596, 12, 4, 15, 30, 7, 0, time.UTC),
		time.Date(-292277022399, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1e9, 6, 15, 12, 0, 0, 123, time.UTC),
	}
	for range 20_000 {
		year := rng.IntN(2_000_000) - 1_000_000
		if rng.IntN(2) == 0 {
			year = rng.IntN(12_000) - 1000
		}
		ts = append(ts, time.Date(year, time.Month(1+rng.IntN(12)), 1+rng.IntN(31), rng.IntN(24), rng.IntN(60), rng.IntN(60),
			[]int{0, rng.IntN(1e9), rng.IntN(1000) * 1e6}[rng.IntN(3)], time.UTC))
	}
	for _, at := range ts {
		b := appendJSONTime(nil, at)
		if len(b) != jsonTimeLen(at) {
			t.Fatalf("%v: wrote %s, worked out %d bytes", at, b, jsonTimeLen(at))
		}
		if y := at.Year(); y >= 0 && y <= 9999 {
			if want, _ := at.MarshalJSON(); string(b) != string(want) {
				t.Fatalf("%v: wrote %s, MarshalJSON %s", at, b, want)
			}
		}
		d := jsonReader{b: b}
		if got := d.time(); d.err != nil || !got.Equal(at) || got.Location() != time.UTC {
			t.Fatalf("%v: wrote %s, read %v, %v", at, b, got, d.err)
		}
	}
	for _, bad := range []string{`"+9999-01-01T00:00:00Z"`, `"+09999-01-01T00:00:00Z"`, `"+010000-01-01T00:00:00Z"`,
		`"-0000-01-01T00:00:00Z"`, `"-001-01-01T00:00:00Z"`, `"-00001-01-01T00:00:00Z"`, `"+10001-02-29T00:00:00Z"`,
		`"+10000-13-01T00:00:00Z"`, `"+1234567890123-01-01T00:00:00Z"`, `"+10000-01-01T00:00:00"`, `"+"`, `"-"`} {
		d := jsonReader{b: []byte(bad)}
		if got := d.time(); d.err == nil {
			t.Errorf("%s read as %v", bad, got)
		}
	}
}
