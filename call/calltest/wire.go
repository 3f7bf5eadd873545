package calltest

import (
	"slices"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// Wire says what a host's protocol can carry, so that [Wire.Commands] (and
// a [Harness] given it) draws only inputs a client of that protocol could
// send. Each field narrows the draw; the zero Wire narrows nothing and
// draws what [Commands] does over [DefaultUsers]. What a Wire leaves out
// (a frame the protocol cannot express, a request from a user with no
// connection) is for the host's own tests of its protocol, not for the
// model.
//
// A protocol with a timeout_ms field, JSON text, tokens for a fixed set of
// users and one logged-in device per connection (a WebSocket server, say)
// says:
//
//	calltest.Wire{
//		Users:      []string{"alice", "bob", "carol", "dave", "erin"},
//		Devices:    []string{"phone", "web"},
//		TimeUnit:   time.Millisecond,
//		TimeoutMax: time.Hour, // timeout_ms is an unsigned field: TimeoutMin 0
//		Connected:  true,
//		JSON:       true,
//	}
//
// and a host without advanced mode adds Ops: GeneralOps.
type Wire struct {
	// Users is a fixed user pool: every user a command names — the acting
	// user, each invitee, each user of a cancel's list — is one of them,
	// but for the malformed IDs drawn on purpose (see WellFormed). No
	// "guest-N" fills a list up, so lists of MaxInvitees+1 users
	// (ErrTooManyInvitees) are drawn only if the pool holds MaxInvitees+2
	// users or more. nil: [DefaultUsers], filled up with guests, as
	// [Commands] draws.
	Users []string

	// Devices is the device pool: every device a command or a presence
	// change names is one of them, but for the malformed ones. nil:
	// [Devices].
	Devices []string

	// Ops are the ops to draw, as [Commands] takes them; nil: all. Without
	// an advanced op (GeneralOps), every invite is in general mode.
	Ops []Op

	// TimeUnit, when set, is the finest duration the protocol carries
	// (time.Millisecond for a timeout_ms field, time.Second for one in
	// seconds): every timeout drawn, and every clock step, is a whole
	// number of it. The bad timeouts are a unit outside the limits; a step
	// "just before" an instant stops a unit before it, and a step to an
	// instant off that grid (one the Options' durations put there) goes
	// past it to the next multiple. 0: timeouts in whole milliseconds,
	// clock steps to the nanosecond.
	TimeUnit time.Duration

	// TimeoutMin and TimeoutMax, when TimeoutMax is set, bound every
	// timeout drawn other than 0 (none given), valid or not: a protocol
	// whose field is unsigned keeps TimeoutMin 0, so that no negative one
	// is drawn. A bad timeout is drawn only if one falls inside.
	TimeoutMin, TimeoutMax time.Duration

	// Connected says every input comes over a connection that is one
	// logged-in device of one user (its token names both): opening one is
	// a Login, closing it a Logout, and a request acts as the connection's
	// user and device.
	// Then a login names a device that is not online, a logout or
	// heartbeat one that is; every command's acting user has an online
	// device, and Device, for the commands that carry one (Accept, Reject,
	// Join, Quit, End), is one of its online devices (a command without,
	// such as Invite, may go over any of the user's connections); and no
	// acting user or device is malformed. While nobody is online, a login
	// is drawn instead of a command. [ConnChecker] (and [Harness.Conns])
	// checks what each connection received.
	Connected bool

	// JSON says the protocol carries strings as UTF-8 text and modes by
	// name, as JSON does: no malformed ID of invalid UTF-8, and no invite
	// of an unknown Mode, is drawn.
	JSON bool

	// WellFormed says the protocol refuses malformed IDs itself, before the
	// Registry sees them: no malformed user, device or call ID is drawn
	// anywhere, in a list or not. (Unknown and ended calls, strangers and
	// every other defect are still drawn.)
	WellFormed bool
}

// Commands returns a generator of the commands [Commands] draws, narrowed
// to what w carries. Like Commands, it reads m when it draws: draw a
// command, then apply it to m (and to the server) before drawing the next.
func (w Wire) Commands(m *Model) *rapid.Generator[Command] {
	users, fixed := w.Users, w.Users != nil
	if !fixed {
		users = DefaultUsers
	}
	return newGen(m, w, users, fixed).commands()
}

// newGen returns a gen drawing from the pool users under w; fixed means no
// user outside the pool is named (Wire.Users).
func newGen(m *Model, w Wire, users []string, fixed bool) *gen {
	g := &gen{m: m, w: w, users: users, fixed: fixed, advanced: len(w.Ops) == 0}
	if g.w.Devices == nil {
		g.w.Devices = Devices
	}
	for _, op := range w.Ops {
		g.advanced = g.advanced || op.advanced()
	}
	if !w.WellFormed {
		for _, id := range badIDs {
			if !w.JSON || utf8.ValidString(id) {
				g.bad = append(g.bad, id)
			}
		}
	}
	for _, id := range g.bad {
		if id != "" {
			g.badSome = append(g.badSome, id)
		}
	}
	return g
}

// badActor reports whether the acting user or device of a command may be
// malformed: not when the protocol authenticates connections, nor when it
// refuses malformed IDs.
func (g *gen) badActor() bool { return !g.w.Connected && len(g.bad) > 0 }

// canAct reports whether u may act: any user of the pool, or under
// Connected one with an online device.
func (g *gen) canAct(u string) bool { return !g.w.Connected || len(g.m.devices[u]) > 0 }

// actors returns the users of the pool that may act (see canAct).
func (g *gen) actors() []string {
	if !g.w.Connected {
		return g.users
	}
	return g.online()
}

// connect makes a drawn command one a connection can send (Connected): an
// acting user with no online device is replaced by one that has some, and
// a Device not online by one of the acting user's online devices.
func (g *gen) connect(t *rapid.T, c Command) Command {
	switch c.Op {
	case OpAdvance, OpLogin, OpLogout, OpHeartbeat:
		return c
	}
	if !g.canAct(c.User) {
		c.User = pick(t, g.online())
	}
	switch c.Op {
	case OpAccept, OpReject, OpJoin, OpQuit, OpEnd:
		if ds := g.m.devices[c.User]; !slices.Contains(ds, c.Device) {
			c.Device = pick(t, ds)
		}
	}
	return c
}

// connectedPresence draws a presence change a connection can make
// (Connected): a Login opens a connection for a device of the pool that is
// not online, a Logout or Heartbeat comes from one that is. When there is
// no such device, a Login becomes a Logout and the others a Login.
func (g *gen) connectedPresence(t *rapid.T, op Op) Command {
	var on, off [][2]string
	for _, u := range g.users {
		for _, d := range g.w.Devices {
			if slices.Contains(g.m.devices[u], d) {
				on = append(on, [2]string{u, d})
			} else {
				off = append(off, [2]string{u, d})
			}
		}
	}
	list := on
	switch {
	case op == OpLogin && len(off) > 0:
		list = off
	case op == OpLogin:
		op = OpLogout
	case len(on) == 0:
		op, list = OpLogin, off
	}
	p := pick(t, list)
	return Command{Op: op, User: p[0], Device: p[1]}
}

// unit is the unit of the timeouts drawn: Wire.TimeUnit, or a millisecond.
func (g *gen) unit() time.Duration {
	if g.w.TimeUnit > 0 {
		return g.w.TimeUnit
	}
	return time.Millisecond
}

// fits reports whether a nonzero timeout lies within the Wire's bounds.
func (g *gen) fits(d time.Duration) bool {
	return g.w.TimeoutMax <= 0 || g.w.TimeoutMin <= d && d <= g.w.TimeoutMax
}

// timeout draws the timeout of an invite or a calling invite: with the
// weights given, none (0), a valid one of whole units up to 20s, the least
// valid one, the greatest, and DefaultTimeout. A bad one is a unit above
// MaxTimeout, a unit below 1s (a nanosecond, without a Wire.TimeUnit), or
// -1s (rounded to a unit). Every one that
// is not 0 is a whole number of units within the Wire's bounds: a valid
// one that would not be is 0 instead, and a bad one is drawn only from
// those that are.
func (g *gen) timeout(t *rapid.T, bad bool, weights ...int) time.Duration {
	u := g.unit()
	lo, hi := ceilTo(minTimeout, u), floorTo(g.m.maxTimeout, u)
	var d time.Duration
	switch choose(t, weights...) {
	case 1: // valid, mostly short
		top := max(lo, floorTo(min(g.m.maxTimeout, 20*time.Second), u))
		d = lo + time.Duration(rapid.Int64Range(0, int64((top-lo)/u)).Draw(t, "units"))*u
	case 2:
		d = lo
	case 3:
		d = hi
	case 4:
		d = floorTo(g.m.defaultTimeout, u)
	}
	if d < minTimeout || d > g.m.maxTimeout || !g.fits(d) {
		d = 0
	}
	if bad {
		// Just outside the limits: a unit outside, for a Wire's protocol;
		// without a Wire.TimeUnit, a nanosecond, so that the Registry's
		// own tests probe its limits exactly.
		edge := u
		if g.w.TimeUnit <= 0 {
			edge = time.Nanosecond
		}
		var out []time.Duration
		for _, b := range []time.Duration{hi + edge, lo - edge, -ceilTo(time.Second, u)} {
			if g.fits(b) {
				out = append(out, b)
			}
		}
		if len(out) > 0 {
			d = pick(t, out)
		}
	}
	return d
}

// step rounds a clock step up to a whole number of Wire.TimeUnit, if set.
func (g *gen) step(d time.Duration) time.Duration {
	if g.w.TimeUnit <= 0 {
		return d
	}
	return ceilTo(d, g.w.TimeUnit)
}

// ceilTo rounds d ≥ 0 up to a multiple of u.
func ceilTo(d, u time.Duration) time.Duration {
	if r := d % u; r != 0 {
		return d - r + u
	}
	return d
}

// floorTo rounds d ≥ 0 down to a multiple of u.
func floorTo(d, u time.Duration) time.Duration { return d - d%u }
