package call

import (
	"slices"
	"strings"
)

// Presence and membership queries. Like Call and Len they read no clock
// and process nothing (D4): they report the state the last input left, so
// a device whose heartbeat lapsed a moment ago (H5) may still be listed
// until the next input or the timer processes it.

// OnlineDevice names one online device of a user.
type OnlineDevice struct {
	User   string `json:"user"`
	Device string `json:"device"` // "": the default device
}

// Devices returns the devices of user that are online, in the order they
// logged in, or nil if none is (an invalid user ID included). The slice is
// the caller's.
func (r *Registry) Devices(user string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if devices := r.devicesOf(user); len(devices) > 0 {
		return slices.Clone(devices)
	}
	return nil
}

// Online returns every online device: users in the order of their IDs,
// each user's devices in the order they logged in; nil if none. It is
// what a host reads after Restore or Recover, whose presence is the one
// the snapshot and journal left (D2), to log out the devices whose
// connections did not survive. It visits every user the Registry knows
// with its lock held, so it is for that kind of audit, not for every
// request: Devices answers for one user.
func (r *Registry) Online() []OnlineDevice {
	r.mu.Lock()
	var out []OnlineDevice
	r.users.eachOnline(func(id string, devices []string) {
		for _, d := range devices {
			out = append(out, OnlineDevice{User: id, Device: d})
		}
	})
	r.mu.Unlock()
	// The table's order is its hash's, which varies from run to run (C4):
	// sort by user, keeping each user's devices in login order.
	slices.SortStableFunc(out, func(a, b OnlineDevice) int { return strings.Compare(a.User, b.User) })
	return out
}

// LiveCalls returns the IDs of the live calls user is a member of, oldest
// first (the order G7, G8 and A7 take them in), or nil if none (an invalid
// user ID included). A member counts whatever its state: the caller, an
// invitee pending or Accepted, and in an advanced call one that rejected,
// timed out, quit or was cancelled, since it may still Join (A3). A
// general call is over, and so not listed, once no invitee is pending
// (G6). Call gives each call's Info.
func (r *Registry) LiveCalls(user string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for l := r.callsOf(user); l != nil; l = l.next {
		ids = append(ids, l.c.ID())
	}
	return ids
}
