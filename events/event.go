package events

import (
	"sync"
	"time"
)

// Push holds what a host needs to build an offline push notification
// (ZIM's ZIMPushConfig).
type Push struct{ Title, Content, Payload string }

// Member is one user's place in a call.
type Member struct {
	User     string
	State    State
	Inviter  string    // who invited this member ("" for the caller)
	Deadline time.Time // while pending: when this member's invitation times out; zero otherwise
	Data     string    // extended data of this member's last action
}

// Event is one notification to one user. See the package documentation for
// which fields each Kind fills.
type Event struct {
	Kind     Kind
	To       string    // the user to deliver to
	Offline  bool      // To had no online device when the event was produced: push it, or drop it
	CallID   string    //
	Seq      uint64    // 1, 2, 3, … per call, across all recipients, in the order produced (G9)
	At       time.Time // clock time of the transition
	Mode     Mode      //
	Caller   string    // the user that created the call
	From     string    // the user whose action caused the event; "" for timeouts
	Device   string    // From's device, where the command named one
	ToDevice string    // when set: deliver to this device of To only (a replay for a device that just logged in)
	Data     string    // extended data of the causing action
	Push     *Push     // push settings of the causing action (invite, cancel), for Offline delivery
	Deadline time.Time // InvitationCreated, InvitationReceived: when the invitation times out
	Members  []Member  // shared and read-only: a Sink must not modify it; see Detach
	Reason   Reason    //
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
