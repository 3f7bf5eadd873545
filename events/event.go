package events

import (
	"sync"
	"time"
)

// Push holds what a host needs to build an offline push notification
// (ZIM's ZIMPushConfig). In JSON it is {"title","content","payload"}, empty
// fields left out.
type Push struct {
	Title   string `json:"title,omitempty"`
	Content string `json:"content,omitempty"`
	Payload string `json:"payload,omitempty"`
}

// Member is one user's place in a call. In JSON it is {"user", "state",
// "inviter", "deadline", "data"}: user and state always, the others left
// out when empty or zero (see the package documentation, JSON).
type Member struct {
	User     string    `json:"user"`
	State    State     `json:"state"`             // always written: its zero value, Inviting, is a state
	Inviter  string    `json:"inviter,omitempty"` // who invited this member ("" for the caller)
	Deadline time.Time `json:"deadline,omitzero"` // while pending: when this member's invitation times out; zero otherwise
	Data     string    `json:"data,omitempty"`    // extended data of this member's last action
}

// Event is one notification to one user. See the package documentation for
// which fields each Kind fills, and for its JSON form: each field's name in
// JSON is its tag's, empty fields left out, except kind, seq and mode,
// which are always written. To and Offline are in the JSON too, for a host
// that hands the whole event on (an offline push's webhook body names its
// recipient; a queue between a Registry and its connections); a host that
// writes the event to the recipient's own connection leaves them out by
// clearing them first.
type Event struct {
	Kind     Kind      `json:"kind"`                //
	To       string    `json:"to,omitempty"`        // the user to deliver to
	Offline  bool      `json:"offline,omitempty"`   // To had no online device when the event was produced: push it, or drop it
	CallID   string    `json:"call_id,omitempty"`   //
	Seq      uint64    `json:"seq"`                 // 1, 2, 3, … per call, across all recipients, in the order produced (G9)
	At       time.Time `json:"at,omitzero"`         // clock time of the transition
	Mode     Mode      `json:"mode"`                // always written: its zero value, General, is a mode
	Caller   string    `json:"caller,omitempty"`    // the user that created the call
	From     string    `json:"from,omitempty"`      // the user whose action caused the event; "" for timeouts
	Device   string    `json:"device,omitempty"`    // From's device, where the command named one
	ToDevice string    `json:"to_device,omitempty"` // when set: deliver to this device of To only (a replay for a device that just logged in)
	Data     string    `json:"data,omitempty"`      // extended data of the causing action
	Push     *Push     `json:"push,omitempty"`      // push settings of the causing action (invite, cancel), for Offline delivery
	Deadline time.Time `json:"deadline,omitzero"`   // InvitationCreated, InvitationReceived: when the invitation times out
	Members  []Member  `json:"members,omitempty"`   // shared and read-only: a Sink must not modify it; see Detach
	Reason   Reason    `json:"reason,omitempty"`    // left out when ReasonNone
}

// Sink receives events. callsig calls Emit outside its locks, in Seq order
// for the events of one call, never concurrently for events of the same call;
// events of different calls may arrive from different goroutines at once, so
// an implementation must be safe for concurrent use. Emit may call back into
// the Registry that produced the event.
//
// Keep Emit short: hand the event to the recipient connection's own writer
// (a bounded channel, say) and return, rather than write to the network
// inside it. One goroutine at a time delivers a Registry's events, so a slow
// Emit holds every other call's events back; under concurrent use events
// wait in memory while delivery is behind, and past the Registry's
// MaxBacklog its commands are refused (package call, C5). A panic in Emit
// loses that event only; the others are still delivered (C6).
type Sink interface{ Emit(Event) }

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Discard is a Sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) {}

// Detach returns e with a Members slice of its own. A Sink that keeps
// events beyond Emit from a Registry whose Members are transient
// (call.Options.TransientMembers) must keep detached copies: the Registry
// reuses that memory once Emit returns. With the default, Members are
// never reused, and Detach only costs a copy.
func (e Event) Detach() Event {
	if e.Members != nil {
		e.Members = append(make([]Member, 0, len(e.Members)), e.Members...)
	}
	return e
}

// Recorder is a Sink that keeps every event it receives, for tests and
// simulations. It keeps detached copies (see Detach), so it works with any
// Registry. It is safe for concurrent use; its zero value is ready.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Emit keeps a detached copy of e.
func (r *Recorder) Emit(e Event) {
	e = e.Detach()
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of every event kept so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Take returns every event kept so far and forgets them.
func (r *Recorder) Take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}
