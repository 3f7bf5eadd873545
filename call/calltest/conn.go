package calltest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/callsig/callsig/events"
)

// Conn is what one connection of a host received: the events it delivered
// to one device of one user, in the order it wrote them, from the
// connection's opening to its closing (or until now, if it is still open).
type Conn struct {
	User, Device string
	Events       []events.Event
}

// ConnChecker checks what each connection of a host received against the
// Model: which devices must get each event, and that they get it once, in
// order. An event goes to every connection of its user To (a device of To
// online when the event is produced), or, when it has a ToDevice, to that
// device's connection alone; an Offline event, which is for a push, goes
// to none.
//
// A host maps its connections to [Conn] values this way: one Conn per
// connection, that is, per Login of a device that was not online — the
// Login opens it, and its replays (G8, A7) are its first events — until
// the Logout of that device, or an H5 lapse, which the host must close
// the connection for. User and Device are the device's; Events are what
// the host wrote to it, in order. For each user and device, the k-th Conn
// of the list given to Check is taken for the k-th time that device logged
// in: a host that lists its connections in the order it opened them gets
// this for free. The position counts, not clock time, because several
// inputs happen at one instant. Inputs must come as a connection would
// send them, as [Wire.Connected] draws them: a Login of a device already
// online opens nothing here, so a host that opens a connection anyway (to
// replace one, say) must not be tested with such logins.
//
// Check checks that
//
//   - every event on a connection is for it: To is its user, and ToDevice
//     is "" or its device;
//   - every event the Model says the device must get while the connection
//     is open arrives on it, exactly once, and nothing else does (in
//     particular, nothing produced while the device was offline, and no
//     Offline event);
//   - the events of each call arrive in the order the Model produced them,
//     which is Seq order (G9). The order between events of different
//     calls is not checked: a host may deliver calls independently.
//
// Build it with [NewConnChecker] before the Model takes its first input,
// or give [Harness.Conns], which does that and checks after every step.
// [ConnChecker.Want] lists what the Model says each connection must have
// received. It is not safe for concurrent use.
type ConnChecker struct {
	sessions []*session             // every login of a device, in order
	open     map[[2]string]*session // user and device → its login now open
	count    map[[2]string]int      // user and device → how many times it logged in
}

// session is one login of a device: the events the Model says it must
// get, until its logout.
type session struct {
	user, device string
	n            int // 1 for the device's first login, 2 for its second, …
	want         []events.Event
}

// NewConnChecker returns the ConnChecker of m, attached to it: from now
// on, every login and logout m takes opens and closes a connection, and
// every event it produces goes to the connections open then. A device
// already online has a connection opened now. A Model has one
// ConnChecker: a second call returns the first.
func NewConnChecker(m *Model) *ConnChecker {
	if m.conns != nil {
		return m.conns
	}
	c := &ConnChecker{open: map[[2]string]*session{}, count: map[[2]string]int{}}
	for _, u := range slices.Sorted(maps.Keys(m.devices)) {
		for _, d := range m.devices[u] {
			c.login(u, d)
		}
	}
	m.conns = c
	return c
}

// login opens a connection for a device that has just come online.
func (c *ConnChecker) login(user, device string) {
	if c == nil {
		return
	}
	k := [2]string{user, device}
	c.count[k]++
	s := &session{user: user, device: device, n: c.count[k]}
	c.sessions = append(c.sessions, s)
	c.open[k] = s
}

// logout closes the connection of a device that has gone offline.
func (c *ConnChecker) logout(user, device string) {
	if c == nil {
		return
	}
	delete(c.open, [2]string{user, device})
}

// deliver hands e to the connections that must get it; devices are the
// online devices of e.To when e is produced.
func (c *ConnChecker) deliver(e events.Event, devices []string) {
	if c == nil || e.Offline {
		return
	}
	for _, d := range devices {
		if e.ToDevice != "" && e.ToDevice != d {
			continue
		}
		if s := c.open[[2]string{e.To, d}]; s != nil {
			s.want = append(s.want, e)
		}
	}
}

// Want returns what each connection must have received so far, as the
// Model says: one Conn for each login of a device, in login order.
func (c *ConnChecker) Want() []Conn {
	out := make([]Conn, len(c.sessions))
	for i, s := range c.sessions {
		out[i] = Conn{User: s.user, Device: s.device, Events: s.want}
	}
	return out
}

// Check compares the connections of a host, as [Conn] describes them, with
// what the Model says each must have received by now, and returns the
// first difference, or nil. Call it once the host has delivered every
// event of the inputs taken so far.
func (c *ConnChecker) Check(conns []Conn) error {
	byDevice := map[[2]string][]*session{}
	for _, s := range c.sessions {
		k := [2]string{s.user, s.device}
		byDevice[k] = append(byDevice[k], s)
	}
	given := map[[2]string]int{}
	for i, cn := range conns {
		k := [2]string{cn.User, cn.Device}
		n := given[k]
		given[k]++
		if n >= len(byDevice[k]) {
			return fmt.Errorf("calltest: connection %d (%s/%q) is the device's connection #%d, but the device logged in %d times",
				i, quote(cn.User), cn.Device, n+1, len(byDevice[k]))
		}
		if err := checkConn(byDevice[k][n], cn); err != nil {
			return fmt.Errorf("calltest: connection %d, %w", i, err)
		}
	}
	for _, s := range c.sessions {
		if given[[2]string{s.user, s.device}] < s.n && len(s.want) > 0 {
			return fmt.Errorf("calltest: no connection given for %s/%q's login #%d, which must get %d events, the first %s",
				quote(s.user), s.device, s.n, len(s.want), FormatEvent(s.want[0]))
		}
	}
	return nil
}

// checkConn compares one connection with the login it stands for.
func checkConn(s *session, cn Conn) error {
	name := fmt.Sprintf("%s/%q login #%d", quote(s.user), s.device, s.n)
	type key struct {
		call string
		seq  uint64
	}
	at := map[key][]int{} // where each event of s.want is
	for j, e := range s.want {
		k := key{e.CallID, e.Seq}
		at[k] = append(at[k], j)
	}
	used := make([]bool, len(s.want))
	last := map[string]int{} // call ID → the index in s.want of its last event received
	for i, e := range cn.Events {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s: event %d (%s): %s", name, i, FormatEvent(e), fmt.Sprintf(format, a...))
		}
		if e.To != s.user || e.ToDevice != "" && e.ToDevice != s.device {
			return fail("delivered to the wrong device: it is for %s", deviceOf(e))
		}
		j, twice := -1, false
		for _, w := range at[key{e.CallID, e.Seq}] {
			if EqualEvents(s.want[w], e) {
				if !used[w] {
					j = w
					break
				}
				twice = true
			}
		}
		switch {
		case j < 0 && twice:
			return fail("arrived twice")
		case j < 0 && e.Offline:
			return fail("is Offline: it goes to the push path, to no connection")
		case j < 0:
			return fail("is none this connection must get (produced while the device was offline, for another device, or altered)")
		}
		if p, ok := last[e.CallID]; ok && j < p {
			return fail("out of order: it comes before %s of the same call (G9)", FormatEvent(s.want[p]))
		}
		used[j], last[e.CallID] = true, j
	}
	for j, u := range used {
		if !u {
			return fmt.Errorf("%s: %s never arrived (%d of %d events did)", name, FormatEvent(s.want[j]), len(cn.Events), len(s.want))
		}
	}
	return nil
}

// deviceOf names who an event is for: To, or To/ToDevice.
func deviceOf(e events.Event) string {
	if e.ToDevice == "" {
		return "every device of " + quote(e.To)
	}
	return quote(e.To) + "/" + strconv.Quote(e.ToDevice)
}
