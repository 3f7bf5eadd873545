package call

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/callsig/callsig/events"
)

// Journal receives every input that changes a Registry, before the events
// of that input go out (D1). A host that appends each Entry to durable
// storage can rebuild the Registry after a crash with Recover.
//
// Append is called in the order inputs take effect, with the Registry's
// lock held: it must not call back into the Registry. An error refuses the
// input: a command, a presence change or a Replay returns an error
// matching both ErrJournal and the Journal's own error and changes
// nothing; a refused passing of time leaves everything due, and is tried
// again when the clock next fires, at least a second later.
//
// Without more, an entry must be durable when Append returns: the
// Registry delivers its events right after. A Journal that is also a
// Syncer may return at once and make entries durable in batches: the
// Registry then waits for Sync, outside its lock, before it delivers
// events or a command returns (see Syncer). The Registry counts the
// entries Append accepts (JournalIndex) and names that count in its
// snapshots, so that a journal numbering its entries 1, 2, 3… can tell
// which of them a snapshot covers (SnapshotIndex).
type Journal interface {
	Append(Entry) error
}

// JournalFunc adapts a function to a Journal.
type JournalFunc func(Entry) error

// Append calls f(e).
func (f JournalFunc) Append(e Entry) error { return f(e) }

// Op names the input an Entry records.
type Op string

// The inputs a Journal records.
const (
	OpTick          Op = "tick"           // the passing of time: what fell due at or before At
	OpInvite        Op = "invite"         // Invite
	OpCancel        Op = "cancel"         // Cancel
	OpAccept        Op = "accept"         // Accept
	OpReject        Op = "reject"         // Reject
	OpCallingInvite Op = "calling_invite" // CallingInvite
	OpJoin          Op = "join"           // Join
	OpQuit          Op = "quit"           // Quit
	OpEnd           Op = "end"            // End
	OpLogin         Op = "login"          // Login
	OpLogout        Op = "logout"         // Logout
	OpHeartbeat     Op = "heartbeat"      // Heartbeat (H5)
	OpReplay        Op = "replay"         // Replay: G8 and A7 again, to a device already online
	OpResume        Op = "resume"         // Recover with Options.ResumeHeartbeats: every online device's heartbeat deadline restarts from At (H5)
)

// Entry is one input to a Registry — a command, a presence change, or the
// passing of time — with its clock reading and every ID it produced, so that
// Apply can replay it exactly (D1). Entries encode to JSON and back without
// loss.
type Entry struct {
	Op      Op            `json:"op"`
	At      time.Time     `json:"at"`                // the clock reading the input took effect at (D3 applied)
	User    string        `json:"user,omitempty"`    // the acting user (Login, Logout: the user)
	Device  string        `json:"device,omitempty"`  // the acting device (Login, Logout: the device)
	CallID  string        `json:"call,omitempty"`    // the call; for Invite, the ID it was given
	Users   []string      `json:"users,omitempty"`   // invitees (Invite, CallingInvite, Cancel)
	Timeout time.Duration `json:"timeout,omitempty"` // as the command's config gave it
	Mode    events.Mode   `json:"mode,omitempty"`    // Invite
	Data    string        `json:"data,omitempty"`    // the command's extended data
	Push    *events.Push  `json:"push,omitempty"`    // the command's push settings
	HostID  bool          `json:"host_id,omitempty"` // Invite: CallID was chosen by the host, not made by NewID
	Admit   []string      `json:"admit,omitempty"`   // H7: per invitee, "" if Options.Admit admitted it, else its error's message ("refused" for an empty one, which "" would make an admission)
}

// String gives the entry as its JSON text, for logs.
func (e Entry) String() string {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Sprintf("Entry{%s at %v}", e.Op, e.At)
	}
	return string(b)
}

// name is the op as error messages name commands.
func (op Op) name() string {
	if op == OpCallingInvite {
		return "calling invite"
	}
	return string(op)
}

// Apply replays one journaled input at its own clock reading (D1): what fell
// due up to e.At is processed first, then the command runs with the IDs the
// entry recorded. It never writes the Journal and never calls NewID. It
// returns the command's error, changing nothing, if the entry no longer
// applies, and ErrInvalidArgument for an entry it cannot read. A reading
// earlier than the Registry's last counts as the last (D3).
//
// Replaying a journal into a new Registry (Recover, or Apply on a Registry
// whose clock does not fire meanwhile) rebuilds the same state and emits the
// same events.
func (r *Registry) Apply(e Entry) error {
	_, err := r.ApplyResult(e)
	return err
}

// isCommand reports whether op is a command: an input that C5 refuses under
// overload, unlike presence changes, Replay (the rest of a login) and the
// passing of time.
func (op Op) isCommand() bool {
	switch op {
	case OpInvite, OpCancel, OpAccept, OpReject, OpCallingInvite, OpJoin, OpQuit, OpEnd:
		return true
	}
	return false
}

// known reports whether op is one Apply can replay.
func (op Op) known() bool {
	switch op {
	case OpTick, OpInvite, OpCancel, OpAccept, OpReject, OpCallingInvite, OpJoin, OpQuit, OpEnd, OpLogin, OpLogout, OpHeartbeat, OpReplay, OpResume:
		return true
	}
	return false
}

// Recover rebuilds a Registry after a restart: Restore from snap (nil: an
// empty Registry), then Apply of every entry of journal in order, with no
// clock timer armed until the last entry is applied. journal holds the
// entries after those the snapshot covers (SnapshotIndex), and the
// Registry's JournalIndex goes on from the snapshot's by one per entry, so
// that its next snapshot names the right cut. Events replayed go to
// o.RecoverySink if set, else to o.Sink like any others; those of the
// inputs after Recover returns go to o.Sink. It stops at the first entry
// Apply refuses and returns that error, naming the entry's index.
//
// Once the last entry is applied, the clock is read and the timer armed
// from that reading: a deadline the clock is already past falls due at
// once (with clock.Manual, on the next Advance), as after Restore.
//
// With o.ResumeHeartbeats and o.HeartbeatTimeout set, and devices online,
// the recovery first counts as a heartbeat of every online device (H5):
// their deadlines restart from the clock's reading, so that none lapses
// for the time the host was down. That restart is an input of its own,
// journaled as an OpResume entry (D1) before the timer is armed; if the
// Journal refuses it, Recover returns that error (ErrJournal), and no
// Registry.
func Recover(snap []byte, journal []Entry, o Options) (*Registry, error) {
	r, err := NewRegistry(o)
	if err != nil {
		return nil, err
	}
	if snap != nil {
		if err := r.load(snap); err != nil {
			return nil, err
		}
	}
	r.time.recovering = true
	live := r.s.sink
	if o.RecoverySink != nil {
		r.s.sink = o.RecoverySink
	}
	for i, e := range journal {
		if err := r.Apply(e); err != nil {
			return nil, fmt.Errorf("callsig: recover: journal entry %d: %w", i, err)
		}
	}
	defer r.flushLogs() // once the lock below is let go
	r.mu.Lock()
	defer r.mu.Unlock()
	// Used from one goroutine, Apply has delivered every event it made
	// (C3), and no timer fires before arm below: nobody delivers now.
	r.s.sink = live
	r.time.recovering = false
	now := r.readClock()
	if o.ResumeHeartbeats {
		if err := r.resumeLocked(now); err != nil {
			return nil, fmt.Errorf("callsig: recover: %w", err)
		}
	}
	r.arm(now, now) // count from the clock's reading, not the last entry's
	return r, nil
}
