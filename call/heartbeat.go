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

// beatHeap orders devices by heartbeat deadline, then last-heartbeat order.
// It repeats deadline.Heap's few lines of sifting on purpose: sifting is
// the inner loop of a burst of expiries (B4), and a heap generic over both
// element types would compare and swap through calls the compiler does not
// inline, where these are inlined.
type beatHeap []*beat

func (h beatHeap) less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].order < h[j].order
}

func (h beatHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}

func (h beatHeap) min() *beat {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

func (h *beatHeap) push(b *beat) {
	b.heapIdx = len(*h)
	*h = append(*h, b)
	h.up(b.heapIdx)
}

func (h *beatHeap) fix(b *beat) {
	if !h.down(b.heapIdx) {
		h.up(b.heapIdx)
	}
}

func (h *beatHeap) remove(b *beat) {
	i, last := b.heapIdx, len(*h)-1
	if i < 0 {
		return
	}
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	b.heapIdx = -1
	if i != last {
		h.fix((*h)[i])
	}
}

func (h beatHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h beatHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		j := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}

// Heartbeat keeps a device of user alive (H5): with HeartbeatTimeout set,
// the device is logged out by the clock HeartbeatTimeout after its last
// heartbeat or Login. For a device that is not logged in, or without
// HeartbeatTimeout, it does nothing and returns nil. Heartbeat is never
// refused for load (C5).
//
// The error, when there is one, is an *Error, and the device's deadline is
// as it was (RULES.md §2, Presence):
//   - ErrInvalidUser, ErrInvalidArgument: the user or device ID breaks the
//     ID rules. Nothing to retry.
//   - ErrJournal (also matching the Journal's own error): the Journal
//     refused the heartbeat, or the passing of time before it (D1). The
//     heartbeat did not count: retry before the device's deadline, or the
//     clock logs it out.
func (r *Registry) Heartbeat(user, device string) error {
	err := r.runInput(&inputRun{entry: Entry{Op: OpHeartbeat, User: user, Device: device}, admitAsked: true}, nil)
	return err
}

// heartbeat refreshes the device's deadline, if it has one.
func (r *Registry) heartbeat(in *inputRun, id, device string) error {
	if err := presenceArgs(in.entry.Op, id, device); err != nil {
		return err
	}
	u := r.record(id)
	if r.s.heartbeat <= 0 || u == nil {
		return nil
	}
	i := slices.Index(u.devices, device)
	if i < 0 {
		return nil
	}
	if err := r.commit(in); err != nil {
		return err // D1: the heartbeat did not count, and the host is told
	}
	now := in.entry.At
	r.users.heartbeats++
	b := u.extra.beats[i]
	b.at, b.order = now.Add(r.s.heartbeat), r.users.heartbeats
	r.users.beats.fix(b)
	return nil
}

// startBeat gives a device that just logged in its heartbeat deadline.
func (r *Registry) startBeat(now time.Time, u *user, device string) {
	if r.s.heartbeat <= 0 {
		return
	}
	r.users.heartbeats++
	r.addBeat(u, device, now.Add(r.s.heartbeat), r.users.heartbeats)
}

// addBeat gives u's newest device its heartbeat deadline at, with the
// given order among last heartbeats.
func (r *Registry) addBeat(u *user, device string, at time.Time, order uint64) {
	b := &beat{u: u, device: device, at: at, order: order}
	extra := u.makeExtras()
	extra.beats = append(extra.beats, b)
	r.users.beats.push(b)
}

// stopBeat forgets the heartbeat of the device at index i of u.
func (r *Registry) stopBeat(u *user, i int) {
	if beats := u.beats(); i < len(beats) {
		r.users.beats.remove(beats[i])
		u.extra.beats = slices.Delete(beats, i, i+1)
	}
}
