package deadline

import "time"

// Sub and Add are time.Time's Sub and Add for the instants a driver keeps,
// which are in UTC with no monotonic reading: they give what the methods
// give, without the methods' checks for overflow (Sub checks its result
// with an Add and an Equal) where none can occur, for instants and
// durations within a few centuries of each other, which is every deadline
// a Registry keeps. Out of that range, or for an instant in another
// location, they call the methods. They ignore monotonic readings, as
// t.Round(0) would.

// Sub and Add compute without the methods for instants within maxInstant
// seconds of 1970 and differences within maxSpan seconds: no sum of
// seconds can then overflow, and the nanoseconds of such a difference fit
// in an int64 (2^33 s is about 272 years, and 2^33*1e9 is less than 2^63).
const (
	maxInstant = 1 << 62
	maxSpan    = 1 << 33
)

// Sub returns t.Round(0).Sub(u.Round(0)).
func Sub(t, u time.Time) time.Duration {
	ts, us := t.Unix(), u.Unix()
	if s := ts - us; within(ts, maxInstant) && within(us, maxInstant) && within(s, maxSpan) && utc(t) && utc(u) {
		return time.Duration(s*1e9 + int64(t.Nanosecond()-u.Nanosecond()))
	}
	return t.Round(0).Sub(u.Round(0))
}

// Add returns t.Round(0).Add(d).
func Add(t time.Time, d time.Duration) time.Time {
	ts := t.Unix()
	if !within(ts, maxInstant) || !utc(t) {
		return t.Round(0).Add(d)
	}
	s, ns := ts+int64(d/1e9), int64(t.Nanosecond())+int64(d%1e9)
	return time.Unix(s, ns).UTC() // Unix carries ns outside [0, 1e9) into s
}

// within reports whether s lies strictly between -limit and limit.
func within(s, limit int64) bool { return s > -limit && s < limit }

// utc reports whether t is in UTC.
func utc(t time.Time) bool { return t.Location() == time.UTC }
