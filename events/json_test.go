package events_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// wireNames are the names a wire protocol gives an event's fields, and a
// member's, and a push's (package documentation, JSON).
var (
	eventNames = []string{"kind", "to", "offline", "call_id", "seq", "at", "mode", "caller", "from", "device",
		"to_device", "data", "push", "deadline", "members", "reason"}
	memberNames = []string{"user", "state", "inviter", "deadline", "data"}
	pushNames   = []string{"title", "content", "payload"}
)

// keys returns the keys of the JSON object b.
func keys(t testing.TB, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return slices.Sorted(maps.Keys(m))
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// An event with every field set carries every wire name, and nothing else;
// an empty one only those always written.
func TestEventJSONNames(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 1, time.UTC)
	full := events.Event{
		Kind: events.UserStateChanged, To: "bob", Offline: true, CallID: "c1", Seq: 7, At: at, Mode: events.Advanced,
		Caller: "alice", From: "carol", Device: "web", ToDevice: "phone", Data: "d",
		Push: &events.Push{Title: "t", Content: "c", Payload: "p"}, Deadline: at.Add(time.Minute),
		Members: []events.Member{{User: "carol", State: events.Received, Inviter: "alice", Deadline: at, Data: "x"}},
		Reason:  events.ReasonEnded,
	}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(t, b); !slices.Equal(got, sorted(eventNames)) {
		t.Errorf("event keys %q, want %q", got, sorted(eventNames))
	}
	var raw struct {
		Members []json.RawMessage `json:"members"`
		Push    json.RawMessage   `json:"push"`
		At      string            `json:"at"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, raw.Members[0]); !slices.Equal(got, sorted(memberNames)) {
		t.Errorf("member keys %q, want %q", got, sorted(memberNames))
	}
	if got := keys(t, raw.Push); !slices.Equal(got, sorted(pushNames)) {
		t.Errorf("push keys %q, want %q", got, sorted(pushNames))
	}
	if raw.At != "2026-11-27T09:00:00.000000001Z" {
		t.Errorf("at = %q, want RFC 3339 with nanoseconds, UTC", raw.At)
	}

	// Left out when empty: all but kind, seq and mode; a member's user and
	// state stay, whatever their value.
	b, err = json.Marshal(events.Event{Kind: events.InvitationCreated, Members: []events.Member{{}}, Push: &events.Push{}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"kind":"InvitationCreated","seq":0,"mode":"General","push":{},"members":[{"user":"","state":"Inviting"}]}`; string(b) != want {
		t.Errorf("empty event: %s, want %s", b, want)
	}
}

// Decoding refuses a name that is no Kind, Mode, State or Reason, wherever
// it stands; encoding refuses a value without a name.
func TestEventJSONRefuses(t *testing.T) {
	for _, in := range []string{
		`{"kind":"Nope"}`, `{"kind":"Kind(0)"}`, `{"kind":"invitationReceived"}`, `{"kind":3}`,
		`{"kind":"InvitationCreated","mode":"Basic"}`, `{"kind":"InvitationCreated","mode":"Mode(2)"}`,
		`{"kind":"InvitationCreated","reason":"ReasonBusy"}`, `{"kind":"InvitationCreated","reason":"Reason(9)"}`,
		`{"kind":"InvitationCreated","members":[{"user":"a","state":"Ringing"}]}`,
		`{"kind":"InvitationCreated","at":"2026-11-27 09:00:00"}`,
	} {
		var e events.Event
		if err := json.Unmarshal([]byte(in), &e); err == nil {
			t.Errorf("%s decoded as %+v", in, e)
		}
	}
	for name, e := range map[string]events.Event{
		"kind 0":      {},
		"kind 10":     {Kind: events.InvitationEnded + 1},
		"mode 2":      {Kind: events.InvitationCreated, Mode: events.Advanced + 1},
		"reason 8":    {Kind: events.InvitationCreated, Reason: events.ReasonEmpty + 1},
		"state 8":     {Kind: events.InvitationCreated, Members: []events.Member{{State: events.NotYetReceived + 1}}},
		"year 10000":  {Kind: events.InvitationCreated, At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year -1 due": {Kind: events.InvitationCreated, Deadline: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if b, err := json.Marshal(e); err == nil {
			t.Errorf("%s encoded as %s", name, b)
		}
	}
}

// A host embeds Event in its own message and gets one flat object.
func TestEventJSONEmbedded(t *testing.T) {
	msg := struct {
		Type string `json:"type"`
		events.Event
	}{"event", events.Event{Kind: events.InvitationAccepted, CallID: "c1", Seq: 3, Mode: events.General, Caller: "alice", From: "bob"}}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"event","kind":"InvitationAccepted","call_id":"c1","seq":3,"mode":"General","caller":"alice","from":"bob"}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

// genTime draws a time as a Registry's are: UTC, no monotonic reading, in
// the years RFC 3339 can write; or zero.
func genTime(t *rapid.T, label string) time.Time {
	if rapid.IntRange(0, 4).Draw(t, label+" zero") == 0 {
		return time.Time{}
	}
	lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	sec := rapid.OneOf(rapid.Int64Range(lo, hi), rapid.Int64Range(1.7e9, 1.9e9)).Draw(t, label+" s")
	return time.Unix(sec, rapid.Int64Range(0, 999_999_999).Draw(t, label+" ns")).UTC()
}

// genString draws a valid UTF-8 string, often short and often empty.
func genString(t *rapid.T, label string) string {
	return rapid.OneOf(rapid.Just(""), rapid.SampledFrom([]string{"alice", "bob", "é\u2028<&>\"\\", "\x00\x1f\x7f", "\U0001F600"}),
		rapid.String()).Draw(t, label)
}

func genPush(t *rapid.T, label string) *events.Push {
	if rapid.Bool().Draw(t, label+" nil") {
		return nil
	}
	return &events.Push{Title: genString(t, label+" title"), Content: genString(t, label+" content"), Payload: genString(t, label+" payload")}
}

func genEvent(t *rapid.T) events.Event {
	e := events.Event{
		Kind:     events.Kind(rapid.IntRange(int(events.InvitationCreated), int(events.InvitationEnded)).Draw(t, "kind")),
		To:       genString(t, "to"),
		Offline:  rapid.Bool().Draw(t, "offline"),
		CallID:   genString(t, "call"),
		Seq:      rapid.Uint64().Draw(t, "seq"),
		At:       genTime(t, "at"),
		Mode:     events.Mode(rapid.IntRange(0, int(events.Advanced)).Draw(t, "mode")),
		Caller:   genString(t, "caller"),
		From:     genString(t, "from"),
		Device:   genString(t, "device"),
		ToDevice: genString(t, "to device"),
		Data:     genString(t, "data"),
		Push:     genPush(t, "push"),
		Deadline: genTime(t, "deadline"),
		Reason:   events.Reason(rapid.IntRange(0, int(events.ReasonEmpty)).Draw(t, "reason")),
	}
	for range rapid.IntRange(0, 4).Draw(t, "members") {
		e.Members = append(e.Members, events.Member{
			User:     genString(t, "user"),
			State:    events.State(rapid.IntRange(0, int(events.NotYetReceived)).Draw(t, "state")),
			Inviter:  genString(t, "inviter"),
			Deadline: genTime(t, "member deadline"),
			Data:     genString(t, "member data"),
		})
	}
	return e
}

// Decoding an encoded event gives back the same event, every field ==
// (times included: UTC, no monotonic reading, as a Registry makes them).
func TestEventJSONRoundTripRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genEvent(t)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", e, err)
		}
		var back events.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip of %s:\n got %#v\nwant %#v", b, back, e)
		}
		if back.At != e.At || back.Deadline != e.Deadline {
			t.Fatalf("times not == after the round trip: %v %v", back.At, back.Deadline)
		}
		if strings.Contains(string(b), `"Kind"`) {
			t.Fatalf("Go field names in %s", b)
		}
	})
}
