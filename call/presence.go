package call

import "slices"

// user is what the Registry knows of one user: its online devices (a set, in
// login order; H1) and the live calls it is a member of, oldest first (G7
// and G8 walk them in that order). A user with neither is forgotten.
type user struct {
	devices []string
	calls   []*callState
}

// online reports whether u has an online device; the Registry is the core's
// presence.
func (r *Registry) online(id string) bool {
	u := r.users[id]
	return u != nil && len(u.devices) > 0
}

// userFor returns the record of id, making it if need be.
func (r *Registry) userFor(id string) *user {
	u := r.users[id]
	if u == nil {
		u = &user{}
		r.users[id] = u
	}
	return u
}

// forgetIfIdle drops the record of id once it holds nothing.
func (r *Registry) forgetIfIdle(id string, u *user) {
	if len(u.devices) == 0 && len(u.calls) == 0 {
		delete(r.users, id)
	}
}

// addMember records that id is a member of c, keeping the user's calls
// oldest first: a user that CallingInvite adds to an old call files it
// before the newer calls it joined earlier (G8, A7 walk them in this order).
func (r *Registry) addMember(id string, c *callState) {
	u := r.userFor(id)
	i := len(u.calls)
	for i > 0 && u.calls[i-1].order > c.order {
		i--
	}
	u.calls = slices.Insert(u.calls, i, c)
}

// removeMember forgets that id is a member of c.
func (r *Registry) removeMember(id string, c *callState) {
	u := r.users[id]
	if u == nil {
		return
	}
	if i := slices.Index(u.calls, c); i >= 0 {
		u.calls = slices.Delete(u.calls, i, i+1)
	}
	r.forgetIfIdle(id, u)
}
