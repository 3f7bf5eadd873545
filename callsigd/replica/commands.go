package replica

import "github.com/callsig/callsig/call"

// Commands are the commands of call.Registry run as entries: each method
// builds its op's call.Entry from its arguments (leaving At, an Invite's
// made ID and Admit's answers to whoever runs it), hands it to the
// function, and returns the part of the call.Result that the Registry's
// own method returns, with the function's error as it is. A Node's
// commands are Commands over Node.Do; callsigd's cluster has the same
// over a runner that forwards a follower's entry to the leader's Do.
type Commands func(call.Entry) (call.Result, error)

// commands lets Node embed Commands as an unexported field: the methods
// are Node's, the function stays the Node's own (its Do).
type commands = Commands

// Invite is call.Registry.Invite, as an OpInvite entry. The call's ID
// (unless the config names one) and Admit's answers are made where the
// entry runs, once (see Node.Do).
func (do Commands) Invite(inviter string, invitees []string, cfg call.InviteConfig) (call.InviteResult, error) {
	res, err := do(call.Entry{Op: call.OpInvite, User: inviter, Users: invitees, Timeout: cfg.Timeout, Mode: cfg.Mode,
		Data: cfg.ExtendedData, Push: cfg.Push, CallID: cfg.CallID})
	return res.Invite, err
}

// CallingInvite is call.Registry.CallingInvite, as an OpCallingInvite
// entry; Admit is asked where the entry runs, as for Invite.
func (do Commands) CallingInvite(user, callID string, invitees []string, cfg call.CallingInviteConfig) (call.InviteResult, error) {
	res, err := do(call.Entry{Op: call.OpCallingInvite, User: user, CallID: callID, Users: invitees, Timeout: cfg.Timeout,
		Push: cfg.Push})
	return res.Invite, err
}

// Cancel is call.Registry.Cancel, as an OpCancel entry.
func (do Commands) Cancel(inviter, callID string, invitees []string, cfg call.CancelConfig) ([]string, error) {
	res, err := do(call.Entry{Op: call.OpCancel, User: inviter, CallID: callID, Users: invitees,
		Data: cfg.ExtendedData, Push: cfg.Push})
	return res.Failed, err
}

// Accept is call.Registry.Accept, as an OpAccept entry.
func (do Commands) Accept(invitee, callID string, cfg call.AcceptConfig) error {
	return do.only(call.Entry{Op: call.OpAccept, User: invitee, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
}

// Reject is call.Registry.Reject, as an OpReject entry.
func (do Commands) Reject(invitee, callID string, cfg call.RejectConfig) error {
	return do.only(call.Entry{Op: call.OpReject, User: invitee, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
}

// Join is call.Registry.Join, as an OpJoin entry.
func (do Commands) Join(user, callID string, cfg call.JoinConfig) (call.Info, error) {
	res, err := do(call.Entry{Op: call.OpJoin, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
	return res.Info, err
}

// Quit is call.Registry.Quit, as an OpQuit entry.
func (do Commands) Quit(user, callID string, cfg call.QuitConfig) error {
	return do.only(call.Entry{Op: call.OpQuit, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
}

// End is call.Registry.End, as an OpEnd entry.
func (do Commands) End(user, callID string, cfg call.EndConfig) error {
	return do.only(call.Entry{Op: call.OpEnd, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
}

// Login is call.Registry.Login, as an OpLogin entry.
func (do Commands) Login(user, device string) error {
	return do.only(call.Entry{Op: call.OpLogin, User: user, Device: device})
}

// Logout is call.Registry.Logout, as an OpLogout entry.
func (do Commands) Logout(user, device string) error {
	return do.only(call.Entry{Op: call.OpLogout, User: user, Device: device})
}

// Heartbeat is call.Registry.Heartbeat, as an OpHeartbeat entry (H5).
func (do Commands) Heartbeat(user, device string) error {
	return do.only(call.Entry{Op: call.OpHeartbeat, User: user, Device: device})
}

// Replay is call.Registry.Replay, as an OpReplay entry. Its events are
// every node's, like any others: the node the device is connected to
// delivers them.
func (do Commands) Replay(user, device string) error {
	return do.only(call.Entry{Op: call.OpReplay, User: user, Device: device})
}

// only runs e for a command whose only answer is its error.
func (do Commands) only(e call.Entry) error {
	_, err := do(e)
	return err
}
