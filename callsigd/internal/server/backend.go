package server

import (
	"github.com/callsig/callsig/call"
)

// Backend is the Registry a Server fronts: the commands it runs for its
// clients and the queries it reads. A *call.Registry is one; so is a
// replicated Registry (a cluster node), whose commands may also fail with
// errors of its own, which replies carry by call.Code: an error with a
// method Code() string gives that code.
//
// Events come back through Options.Sink, which the Server sets to itself
// before it makes the Backend (Config.NewBackend).
type Backend interface {
	Invite(inviter string, invitees []string, cfg call.InviteConfig) (call.InviteResult, error)
	CallingInvite(user, callID string, invitees []string, cfg call.CallingInviteConfig) (call.InviteResult, error)
	Cancel(inviter, callID string, invitees []string, cfg call.CancelConfig) ([]string, error)
	Accept(invitee, callID string, cfg call.AcceptConfig) error
	Reject(invitee, callID string, cfg call.RejectConfig) error
	Join(user, callID string, cfg call.JoinConfig) (call.Info, error)
	Quit(user, callID string, cfg call.QuitConfig) error
	End(user, callID string, cfg call.EndConfig) error

	Login(user, device string) error
	Logout(user, device string) error
	Heartbeat(user, device string) error
	Replay(user, device string) error

	Call(callID string) (call.Info, bool)
	History(user string, count int, cursor string) ([]call.Info, string, error)
	Online() []call.OnlineDevice
	Devices(user string) []string
	Len() int
	Backlog() int
	Stats() call.Stats
}

var _ Backend = (*call.Registry)(nil)
