package call

import (
	"slices"
	"time"
)

// H5: with Options.HeartbeatTimeout set, Login and Heartbeat keep a device
// alive (a Login of a device already logged in counts as a heartbeat); the
// clock logs a device out exactly HeartbeatTimeout after its last one, and
// G7 applies. At one instant, heartbeat expiries come after member
// deadlines and not-received checks, devices in the order of their last
// heartbeat (the Time rule).

// beat is one online device's heartbeat deadline.
type beat struct {
	u       *user
	device  string
	at      time.Time
	order   uint64 // the order of the last heartbeat among all devices
	heapIdx int
}

// before orders heartbeat deadlines, ties in the order of the last
// heartbeat (the Time rule).
func (a *beat) before(b *beat) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.order < b.order
}

func (a *beat) placed(i int) { a.heapIdx = i }

// Heartbeat keeps a device of user alive (H5): with HeartbeatTimeout set,
// the device is logged out by the clock HeartbeatTimeout after its last
// heartbeat or Login. For a device that is not logged in, or without
// HeartbeatTimeout, it does nothing.
func (r *Registry) Heartbeat(user, device string) {
	_, _ = r.input(Entry{Op: OpHeartbeat, User: user, Device: device})
}

// heartbeat refreshes the device's deadline, if it has one.
func (r *Registry) heartbeat(now time.Time, id, device string) {
	u := r.users[id]
	if r.s.heartbeat <= 0 || u == nil {
		return
	}
	i := slices.Index(u.devices, device)
	if i < 0 || r.commit() != nil { // D1: a refused heartbeat is dropped
		return
	}
	r.beatSeq++
	b := u.beats[i]
	b.at, b.order = now.Add(r.s.heartbeat), r.beatSeq
	r.beats.fix(b.heapIdx)
}

// startBeat gives a device that just logged in its heartbeat deadline.
func (r *Registry) startBeat(now time.Time, u *user, device string) {
	if r.s.heartbeat <= 0 {
		return
	}
	r.beatSeq++
	b := &beat{u: u, device: device, at: now.Add(r.s.heartbeat), order: r.beatSeq}
	u.beats = append(u.beats, b)
	r.beats.push(b)
}

// stopBeat forgets the heartbeat of the device at index i of u.
func (r *Registry) stopBeat(u *user, i int) {
	if i < len(u.beats) {
		r.beats.removeAt(u.beats[i].heapIdx)
		u.beats = slices.Delete(u.beats, i, i+1)
	}
}
