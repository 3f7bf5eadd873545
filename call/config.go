package call

import (
	"time"

	"github.com/callsig/callsig/events"
)

// InviteConfig configures Invite (ZIM's ZIMCallInviteConfig).
type InviteConfig struct {
	Timeout      time.Duration // how long invitees may answer; 0: Options.DefaultTimeout; else in [1s, MaxTimeout]
	Mode         events.Mode   // General or Advanced
	ExtendedData string        // handed to every invitee; at most MaxDataLen bytes
	Push         *events.Push  // for invitees that are offline; its fields at most MaxDataLen bytes together
	CallID       string        // optional: the host chooses the ID (G11)
}

// InviteResult is what a successful Invite returns. In JSON (see
// MarshalJSON) it is {"call_id", "timeout_ms", "deadline", "failed",
// "merged"}, as its tags name them.
type InviteResult struct {
	CallID   string        `json:"call_id"`
	Timeout  time.Duration `json:"timeout_ms,omitempty"` // the timeout in force (the default, where the config left it 0); whole milliseconds in JSON
	Deadline time.Time     `json:"deadline,omitzero"`    // when the invitations time out
	Failed   []Failure     `json:"failed,omitempty"`     // invitees refused one by one (H7); the rest were invited
	Merged   bool          `json:"merged,omitempty"`     // H3: no call was opened; the inviter accepted CallID, a call from its invitee
}

// Failure is one invitee that an Invite could not invite. In JSON (see
// MarshalJSON) it is {"user", "code", "message"}: Err travels as its
// [Code] and its message.
type Failure struct {
	User string `json:"user"`
	Err  error  `json:"-"` // written as "code" and "message"
}

// CancelConfig configures Cancel (ZIM's ZIMCallCancelConfig).
type CancelConfig struct {
	ExtendedData string
	Push         *events.Push // for cancelled invitees that are offline, so a push can stop the ring
}

// AcceptConfig configures Accept. Device names the answering device, echoed
// in events so a host can stop the ring on the user's other devices.
type AcceptConfig struct{ ExtendedData, Device string }

// RejectConfig configures Reject; see AcceptConfig.
type RejectConfig struct{ ExtendedData, Device string }

// Info is a copy of a live call's state, as Registry.Call returns it. In
// JSON (see MarshalJSON) it is {"call_id", "caller", "mode", "created_at",
// "timeout_ms", "data", "members", "ended_at"}, as its tags name them.
type Info struct {
	CallID       string          `json:"call_id"`
	Caller       string          `json:"caller"`
	Mode         events.Mode     `json:"mode"`
	CreatedAt    time.Time       `json:"created_at,omitzero"`
	Timeout      time.Duration   `json:"timeout_ms,omitempty"` // whole milliseconds in JSON
	ExtendedData string          `json:"data,omitempty"`
	Members      []events.Member `json:"members,omitempty"` // the caller first, then invitees in the order invited
	EndedAt      time.Time       `json:"ended_at,omitzero"` // when the call ended (H8 history); zero while live
}

// CallingInviteConfig configures CallingInvite (advanced mode, A2).
type CallingInviteConfig struct {
	Timeout time.Duration // 0: the call's timeout; else in [1s, MaxTimeout]
	Push    *events.Push  // for invitees that are offline
}

// JoinConfig configures Join (advanced mode, A3).
type JoinConfig struct{ ExtendedData, Device string }

// QuitConfig configures Quit (advanced mode, A4).
type QuitConfig struct{ ExtendedData, Device string }

// EndConfig configures End (advanced mode, A5).
type EndConfig struct{ ExtendedData, Device string }
