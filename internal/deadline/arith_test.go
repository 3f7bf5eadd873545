package deadline

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Sub and Add give exactly what time.Time's methods give once monotonic
// readings are stripped, for any instants and durations: near ones
// (computed without the methods), and far, zero, extreme, non-UTC and
// monotonic ones.
func TestArithMatchesTime(t *testing.T) {
	instant := rapid.Custom(func(t *rapid.T) time.Time {
		switch rapid.IntRange(0, 5).Draw(t, "sort") {
		case 0: // near 2026, as a Registry's are
			return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rapid.Int64Range(-1e18, 1e18).Draw(t, "off")))
		case 1: // anywhere
			return time.Unix(rapid.Int64().Draw(t, "sec"), rapid.Int64Range(0, 1e9-1).Draw(t, "nsec")).UTC()
		case 2:
			return time.Time{}
		case 3: // another location
			return time.Unix(rapid.Int64Range(0, 1e10).Draw(t, "sec"), 0).In(time.FixedZone("X", 3600))
		case 4: // a monotonic reading
			return time.Now().Add(time.Duration(rapid.Int64Range(-1e12, 1e12).Draw(t, "off")))
		default: // within a few seconds of 1<<33 s of each other
			return time.Unix(1<<33*rapid.Int64Range(-2, 2).Draw(t, "k")+rapid.Int64Range(-3, 3).Draw(t, "s"), rapid.Int64Range(0, 1e9-1).Draw(t, "nsec")).UTC()
		}
	})
	duration := rapid.Custom(func(t *rapid.T) time.Duration {
		switch rapid.IntRange(0, 2).Draw(t, "sort") {
		case 0:
			return time.Duration(rapid.Int64Range(-1e15, 1e15).Draw(t, "d"))
		case 1:
			return time.Duration(rapid.SampledFrom([]int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64}).Draw(t, "d"))
		default:
			return time.Duration(rapid.Int64().Draw(t, "d"))
		}
	})
	rapid.Check(t, func(rt *rapid.T) {
		a, b, d := instant.Draw(rt, "a"), instant.Draw(rt, "b"), duration.Draw(rt, "d")
		if got, want := Sub(a, b), a.Round(0).Sub(b.Round(0)); got != want {
			rt.Fatalf("Sub(%v, %v) = %v, want %v", a, b, got, want)
		}
		if got, want := Add(a, d), a.Round(0).Add(d); got != want {
			rt.Fatalf("Add(%v, %v) = %#v, want %#v", a, d, got, want)
		}
	})
}
