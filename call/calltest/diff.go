package calltest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callsig/callsig/events"
)

// EqualEvents reports whether a and b are the same event: every field equal,
// times compared with [time.Time.Equal], Push compared by value, and Members
// element by element (nil and empty are equal).
func EqualEvents(a, b events.Event) bool {
	return a.Kind == b.Kind &&
		a.To == b.To &&
		a.Offline == b.Offline &&
		a.CallID == b.CallID &&
		a.Seq == b.Seq &&
		a.At.Equal(b.At) &&
		a.Mode == b.Mode &&
		a.Caller == b.Caller &&
		a.From == b.From &&
		a.Device == b.Device &&
		a.ToDevice == b.ToDevice &&
		a.Data == b.Data &&
		equalPush(a.Push, b.Push) &&
		a.Deadline.Equal(b.Deadline) &&
		EqualMembers(a.Members, b.Members) &&
		a.Reason == b.Reason
}

// EqualMembers reports whether two member lists are equal, element by
// element, with deadlines compared by [time.Time.Equal].
func EqualMembers(a, b []events.Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.User != y.User || x.State != y.State || x.Inviter != y.Inviter ||
			!x.Deadline.Equal(y.Deadline) || x.Data != y.Data {
			return false
		}
	}
	return true
}

func equalPush(a, b *events.Push) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// DiffEvents compares the events a server delivered (got) with those
// expected (want), in order, and returns "" when they are equal, else a
// readable listing: events both have are prefixed "  ", expected ones that
// differ or are missing "- ", and delivered ones that differ or are extra
// "+ ".
func DiffEvents(want, got []events.Event) string {
	same := len(want) == len(got)
	for i := 0; same && i < len(want); i++ {
		same = EqualEvents(want[i], got[i])
	}
	if same {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "events differ (- want, + got): %d wanted, %d got\n", len(want), len(got))
	for i := 0; i < max(len(want), len(got)); i++ {
		switch {
		case i < len(want) && i < len(got) && EqualEvents(want[i], got[i]):
			b.WriteString("  " + FormatEvent(want[i]) + "\n")
		default:
			if i < len(want) {
				b.WriteString("- " + FormatEvent(want[i]) + "\n")
			}
			if i < len(got) {
				b.WriteString("+ " + FormatEvent(got[i]) + "\n")
			}
		}
	}
	return b.String()
}

// FormatEvent renders e on one line, every field that is set, for failure
// logs: Kind, then call and Seq, recipient, and the rest as name=value.
func FormatEvent(e events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s#%d to=%s", e.Kind, quote(e.CallID), e.Seq, quote(e.To))
	if e.ToDevice != "" {
		b.WriteString(" toDevice=" + quote(e.ToDevice))
	}
	if e.Offline {
		b.WriteString(" offline")
	}
	b.WriteString(" at=" + formatTime(e.At))
	if e.Mode != events.General {
		b.WriteString(" mode=" + e.Mode.String())
	}
	b.WriteString(" caller=" + quote(e.Caller))
	if e.From != "" {
		b.WriteString(" from=" + quote(e.From))
	}
	if e.Device != "" {
		b.WriteString(" device=" + quote(e.Device))
	}
	if e.Data != "" {
		b.WriteString(" data=" + shortQuote(e.Data))
	}
	if e.Push != nil {
		fmt.Fprintf(&b, " push={%s %s %s}", shortQuote(e.Push.Title), shortQuote(e.Push.Content), shortQuote(e.Push.Payload))
	}
	if !e.Deadline.IsZero() {
		b.WriteString(" deadline=" + formatTime(e.Deadline))
	}
	b.WriteString(" members=" + FormatMembers(e.Members))
	if e.Reason != events.ReasonNone {
		b.WriteString(" reason=" + e.Reason.String())
	}
	return b.String()
}

// FormatMembers renders a member list on one line, as
// [alice:Accepted bob:Received<alice,until=…>].
func FormatMembers(ms []events.Member) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quote(m.User) + ":" + m.State.String())
		var attrs []string
		if m.Inviter != "" {
			attrs = append(attrs, "by="+quote(m.Inviter))
		}
		if !m.Deadline.IsZero() {
			attrs = append(attrs, "until="+formatTime(m.Deadline))
		}
		if m.Data != "" {
			attrs = append(attrs, "data="+shortQuote(m.Data))
		}
		if len(attrs) > 0 {
			b.WriteString("<" + strings.Join(attrs, ",") + ">")
		}
	}
	b.WriteByte(']')
	return b.String()
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// quote quotes s only when it needs it, so that plain IDs read plainly.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return strconv.Quote(s)
		}
	}
	return s
}

// shortQuote quotes s, cutting a long one short with its length.
func shortQuote(s string) string {
	if len(s) > 24 {
		return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:16]), len(s))
	}
	return strconv.Quote(s)
}
