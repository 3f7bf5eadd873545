package calltest

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// Commands returns a generator of commands over the users of the pool,
// aimed at the state of m. Most commands are well formed and name live calls
// and their members; the rest break one rule or several (so that the order
// of RULES.md §2 "Which error wins" is exercised): malformed IDs, strangers,
// calls that are over or unknown, empty, duplicate or oversized lists,
// timeouts, extended data and push just outside their limits, unknown
// modes, call IDs in use. Timeouts are whole milliseconds (when the
// Options' are), the bad ones a millisecond outside the limits, or
// negative. Well-formed values sit on the limits too: timeouts of 0, 1s
// and MaxTimeout, data and push of exactly MaxDataLen bytes, lists of
// exactly MaxInvitees (filled up, where the pool is too
// small, with users named "guest-1", "guest-2", …), host-chosen call IDs
// that clash and are used again (G11), clock advances to the next instant
// something falls due — a deadline (G5), a not-received check (H6), a
// heartbeat lapse (H5) — and a nanosecond before it, logouts of a user's
// last device, and logins and heartbeats (H5) of devices already online.
//
// Calls are of both modes. Advanced commands (RULES.md §4) mostly name a live
// advanced call and a member whose state allows them (CallingInvite, Quit
// and End an Accepted member, Join one that is not), with lists of users
// new to the call and of members to invite again in place; the rest name a
// general call (ErrWrongMode), a member in the wrong state
// (ErrNotAccepted), the acting user, the caller or a member still in the
// call in the list, lists that pass MaxInvitees+1 members, and the defects
// above.
//
// With no ops, every Op is drawn, invites, answers and clock advances most
// often, End least (it ends a call), and OpHeartbeat only if the Model has
// a HeartbeatTimeout (so that a Server without H5 need not be a
// [Heartbeater]); else only the ops given, with equal weight. Unless an
// advanced op is among them, every invite is in general mode: none
// advanced, none of an unknown mode. The pool should
// hold at least three valid user IDs; devices are those of [Devices].
//
// The generator reads m when it draws, so draw a command, then apply it to
// m (and to the server) before drawing the next; [Harness.Step] does both.
//
// To draw only what a host's protocol can carry, use [Wire.Commands].
func Commands(m *Model, users []string, ops ...Op) *rapid.Generator[Command] {
	return newGen(m, Wire{Ops: ops}, users, false).commands()
}

func (g *gen) commands() *rapid.Generator[Command] {
	m := g.m
	weights := make([]int, len(opNames))
	if len(g.w.Ops) == 0 {
		weights[OpInvite], weights[OpAccept], weights[OpReject], weights[OpCancel] = 9, 5, 3, 2
		weights[OpLogin], weights[OpLogout], weights[OpAdvance] = 5, 3, 5
		weights[OpCallingInvite], weights[OpJoin], weights[OpQuit], weights[OpEnd] = 3, 3, 2, 1
		if m.heartbeat > 0 {
			weights[OpHeartbeat] = 4
		}
	}
	for _, op := range g.w.Ops {
		weights[op] = 1
	}
	return rapid.Custom(func(t *rapid.T) Command {
		op := Op(choose(t, weights...))
		if !g.w.Connected {
			return g.draw(t, op)
		}
		switch op {
		case OpAdvance:
			return g.draw(t, op)
		case OpLogin, OpLogout, OpHeartbeat:
			return g.connectedPresence(t, op)
		}
		if len(g.online()) == 0 {
			return g.connectedPresence(t, OpLogin)
		}
		return g.connect(t, g.draw(t, op))
	})
}

// draw draws a command of op.
func (g *gen) draw(t *rapid.T, op Op) Command {
	switch op {
	case OpInvite:
		return g.invite(t)
	case OpCancel:
		return g.cancel(t)
	case OpAccept:
		return g.answer(t, OpAccept)
	case OpReject:
		return g.answer(t, OpReject)
	case OpLogin:
		return g.login(t)
	case OpLogout:
		return g.logout(t)
	case OpCallingInvite:
		return g.callingInvite(t)
	case OpJoin, OpQuit, OpEnd:
		return g.member(t, op)
	case OpHeartbeat:
		return g.heartbeat(t)
	default:
		return g.advance(t)
	}
}

// Devices are the device names the generators use; "" is the default device.
var Devices = []string{"", "phone", "web"}

// badIDs break the user-ID rules of RULES.md §2 one way each: empty, a control
// character, a format (Cf) character, invalid UTF-8, over 128 bytes.
var badIDs = []string{"", "bad\x00id", "zero\u200bwidth", "\xff\xfe", strings.Repeat("x", 129)}

type gen struct {
	m        *Model
	w        Wire     // what the host's protocol carries; Devices set
	users    []string // the user pool
	fixed    bool     // name no user outside the pool (Wire.Users): no guests, no outsider
	advanced bool     // draw invites in advanced mode too
	bad      []string // the malformed IDs to draw: badIDs, less those the Wire rules out
	badSome  []string // bad, less the empty ID
}

// choose draws an index with the given weights; a zero weight is never
// drawn. It reads uniform bits: rapid's integer draws lean towards small
// values, which would skew the weights. Every bit 0 (what rapid shrinks
// to) is the first index with a weight.
func choose(t *rapid.T, weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	k := bits.Len(uint(total - 1))
	if total&(total-1) != 0 {
		k += 2 // so that n % total below is close to uniform
	}
	n := 0
	for range k {
		n <<= 1
		if rapid.Bool().Draw(t, "bit") {
			n |= 1
		}
	}
	n %= total
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	panic("unreachable")
}

// pick draws an element of list, uniformly.
func pick[E any](t *rapid.T, list []E) E {
	w := make([]int, len(list))
	for i := range w {
		w[i] = 1
	}
	return list[choose(t, w...)]
}

// defects draws which of n kinds of defect a command has: none in most
// commands, one in some, two or three in a few.
func defects(t *rapid.T, n int) []bool {
	set := make([]bool, n)
	for range choose(t, 24, 6, 1, 1) {
		set[choose(t, slices.Repeat([]int{1}, n)...)] = true
	}
	return set
}

// The defects of an invite, in RULES.md §2's order.
const (
	invBadCaller = iota
	invNoInvitees
	invBadInvitee
	invSelf
	invDuplicate
	invTooMany
	invBadTimeout
	invBigData
	invBigPush
	invBadMode
	invBadCallID
	invCallIDInUse
	invDefects
)

func (g *gen) invite(t *rapid.T) Command {
	d := defects(t, invDefects)
	c := Command{Op: OpInvite, User: pick(t, g.actors())}
	if d[invBadCaller] && g.badActor() {
		c.User = pick(t, g.bad)
	}
	others := slices.DeleteFunc(slices.Clone(g.users), func(u string) bool { return u == c.User })
	switch choose(t, 14, 2) {
	case 0: // from the pool, at most MaxInvitees
		c.Users = g.some(t, others, 1, g.m.maxInvitees)
	case 1: // exactly MaxInvitees
		c.Users = g.fill(others, c.User, g.m.maxInvitees)
	}
	if d[invTooMany] {
		c.Users = g.fill(others, c.User, g.m.maxInvitees+1)
	}
	if d[invSelf] {
		c.Users = insert(t, c.Users, c.User)
	}
	if d[invDuplicate] {
		c.Users = insert(t, c.Users, pick(t, c.Users))
	}
	if d[invBadInvitee] && len(g.bad) > 0 {
		c.Users = insert(t, c.Users, pick(t, g.bad))
	}
	if d[invNoInvitees] {
		c.Users = pick(t, [][]string{nil, {}})
	}

	c.Timeout = g.timeout(t, d[invBadTimeout], 6, 6, 1, 1, 1, 1)
	c.Data = g.data(t, d[invBigData])
	c.Push = g.push(t, d[invBigPush])
	if g.advanced && choose(t, 3, 2) == 1 {
		c.Mode = events.Advanced
	}
	if d[invBadMode] && g.advanced && !g.w.JSON { // a host without advanced mode has no mode to get wrong
		c.Mode = events.Mode(rapid.IntRange(2, 255).Draw(t, "mode"))
	}

	var over []string
	for _, id := range g.m.ids {
		if g.m.live(id) == nil {
			over = append(over, id)
		}
	}
	switch choose(t, 12, 3, 1) {
	case 1: // host-chosen: a few names, so that they clash (ErrCallExists) and come back (G11)
		c.CallID = pick(t, []string{"h1", "h2", "h3"})
	case 2: // the ID of a call that is over (G11)
		if len(over) > 0 {
			c.CallID = pick(t, over)
		}
	}
	if d[invBadCallID] && len(g.badSome) > 0 {
		c.CallID = pick(t, g.badSome)
	}
	if d[invCallIDInUse] && len(g.m.calls) > 0 {
		c.CallID = pick(t, g.m.calls).id
	}
	var hosted []*modelCall
	for _, mc := range g.m.calls {
		if mc.hostID && g.canAct(mc.caller) {
			hosted = append(hosted, mc)
		}
	}
	if len(hosted) > 0 && choose(t, 5, 1) == 2 { // H4: the same invite again, a retry
		mc := pick(t, hosted)
		c.User, c.Users, c.CallID = mc.caller, slices.Clone(mc.asked), mc.id
	}
	// H3: with GlareMerge, often an invite back to one's inviter while its
	// ring is pending (a merge), unless the caller or the list is defective.
	listOK := !d[invBadCaller] && !d[invNoInvitees] && !d[invBadInvitee] && !d[invSelf] && !d[invDuplicate] && !d[invTooMany]
	if g.m.glare == call.GlareMerge && listOK {
		type pair struct{ a, b string }
		var back []pair
		for _, mc := range g.m.calls {
			for _, mb := range mc.members[1:] {
				if mb.State.Pending() && g.canAct(mb.User) {
					back = append(back, pair{mb.User, mb.Inviter})
				}
			}
		}
		if len(back) > 0 && choose(t, 2, 1) == 1 {
			p := pick(t, back)
			c.User, c.Users = p.a, []string{p.b}
		}
	}
	return c
}

// some draws between least and most distinct users of from, in random
// order.
func (g *gen) some(t *rapid.T, from []string, least, most int) []string {
	perm := slices.Clone(from)
	for i := len(perm) - 1; i > 0; i-- {
		j := choose(t, slices.Repeat([]int{1}, i+1)...)
		perm[i], perm[j] = perm[j], perm[i]
	}
	most = min(most, len(perm))
	least = min(least, most)
	return perm[:least+choose(t, slices.Repeat([]int{1}, most-least+1)...)]
}

// fill returns n distinct users: from others, then guests; with a fixed
// pool, at most those of others.
func (g *gen) fill(others []string, caller string, n int) []string {
	list := slices.Clone(others)
	if g.fixed {
		return list[:min(n, len(list))]
	}
	for i := 1; len(list) < n; i++ {
		if guest := fmt.Sprintf("guest-%d", i); !slices.Contains(list, guest) && guest != caller {
			list = append(list, guest)
		}
	}
	return list[:n]
}

// newcomers returns n distinct users, none of exclude: from the pool, then
// guests; with a fixed pool, at most those of the pool.
func (g *gen) newcomers(n int, exclude []string) []string {
	var list []string
	for _, u := range g.users {
		if len(list) < n && !slices.Contains(exclude, u) {
			list = append(list, u)
		}
	}
	for i := 1; len(list) < n && !g.fixed; i++ {
		if guest := fmt.Sprintf("guest-%d", i); !slices.Contains(exclude, guest) {
			list = append(list, guest)
		}
	}
	return list
}

// insert puts u into a copy of list at a drawn position.
func insert(t *rapid.T, list []string, u string) []string {
	i := choose(t, slices.Repeat([]int{1}, len(list)+1)...)
	return slices.Insert(slices.Clone(list), i, u)
}

// data draws extended data: within MaxDataLen, or one byte over it.
func (g *gen) data(t *rapid.T, tooBig bool) string {
	if tooBig {
		return strings.Repeat("d", g.m.maxDataLen+1)
	}
	switch choose(t, 8, 6, 2) {
	case 1:
		s := pick(t, []string{"hi", "ok", `{"room":7}`, "zoë"})
		return s[:min(len(s), g.m.maxDataLen)]
	case 2:
		return strings.Repeat("d", g.m.maxDataLen)
	}
	return ""
}

// push draws a Push: none, a small one, an empty one (set, with no
// fields: not the same as none), exactly MaxDataLen bytes together, or one
// over.
func (g *gen) push(t *rapid.T, tooBig bool) *events.Push {
	if tooBig {
		return &events.Push{Title: "T", Payload: strings.Repeat("p", g.m.maxDataLen)}
	}
	switch choose(t, 10, 4, 2, 1) {
	case 3:
		return &events.Push{}
	case 1: // a small one, within the limit
		p := events.Push{Title: "Call", Content: "ringing", Payload: "p"}
		if len(p.Title)+len(p.Content)+len(p.Payload) > g.m.maxDataLen {
			p = events.Push{Title: strings.Repeat("t", g.m.maxDataLen)}
		}
		return &p
	case 2:
		return &events.Push{Content: strings.Repeat("c", g.m.maxDataLen)}
	}
	return nil
}

// device draws the device an acting user names: one of the pool, or, if
// bad and the Wire allows it, a malformed one.
func (g *gen) device(t *rapid.T, bad bool) string {
	if bad && g.badActor() {
		return pick(t, g.badSome)
	}
	return pick(t, g.w.Devices)
}

// target draws the call of a command: a live one if there is one, unless
// gone is set; then one that is over, or an unknown or malformed ID. It
// returns the live call, or nil.
func (g *gen) target(t *rapid.T, gone bool) (string, *modelCall) {
	return g.targetWhere(t, gone, nil)
}

// targetWhere is target, drawing the live call among those for which ok
// holds (nil: all), if there are any.
func (g *gen) targetWhere(t *rapid.T, gone bool, ok func(*modelCall) bool) (string, *modelCall) {
	live := g.m.calls
	if ok != nil {
		if some := slices.DeleteFunc(slices.Clone(live), func(c *modelCall) bool { return !ok(c) }); len(some) > 0 {
			live = some
		}
	}
	if !gone && len(live) > 0 {
		c := pick(t, live)
		return c.id, c
	}
	var over []string
	for _, id := range g.m.ids {
		if g.m.live(id) == nil && !slices.Contains(over, id) {
			over = append(over, id)
		}
	}
	if len(over) > 0 && choose(t, 1, 1) == 0 {
		return pick(t, over), nil
	}
	return pick(t, append([]string{"no-such-call"}, g.bad...)), nil
}

// stranger draws a user of the pool that is no member of c: one that may
// act, if acting. If there is none, it is "outsider", or, with a fixed
// pool, a user of the pool that may be a member after all.
func (g *gen) stranger(t *rapid.T, c *modelCall, acting bool) string {
	from := g.users
	if acting {
		from = g.actors()
	}
	var strangers []string
	for _, u := range from {
		if c == nil || c.index(u) < 0 {
			strangers = append(strangers, u)
		}
	}
	switch {
	case len(strangers) > 0:
		return pick(t, strangers)
	case g.fixed && len(from) > 0:
		return pick(t, from)
	}
	return "outsider"
}

// The defects of a cancel, in RULES.md §2's order.
const (
	canBadUser = iota
	canGone
	canStranger
	canNotInviter
	canBadEntry
	canNonInvitee
	canCallerInList
	canDuplicate
	canBigData
	canBigPush
	canDefects
)

func (g *gen) cancel(t *rapid.T) Command {
	d := defects(t, canDefects)
	id, c := g.targetWhere(t, d[canGone], g.when(func(c *modelCall) bool { return g.canAct(c.caller) }))
	cmd := Command{Op: OpCancel, CallID: id}
	invitees := g.users
	if c != nil {
		cmd.User = c.caller
		invitees = nil
		for _, mb := range c.members[1:] {
			invitees = append(invitees, mb.User)
		}
	} else {
		cmd.User = pick(t, g.actors())
	}
	switch {
	case d[canBadUser] && g.badActor():
		cmd.User = pick(t, g.bad)
	case d[canStranger]:
		cmd.User = g.stranger(t, c, true)
	case d[canNotInviter] && c != nil:
		cmd.User = pick(t, g.acting(invitees))
	}
	switch choose(t, 6, 1, 6, 3) {
	case 1:
		cmd.Users = []string{}
	case 2:
		cmd.Users = g.some(t, invitees, 1, len(invitees))
	case 3:
		cmd.Users = g.some(t, invitees, len(invitees), len(invitees))
	}
	if d[canNonInvitee] {
		cmd.Users = insert(t, cmd.Users, g.stranger(t, c, false))
	}
	if d[canCallerInList] && c != nil {
		cmd.Users = insert(t, cmd.Users, c.caller)
	}
	if d[canDuplicate] && len(cmd.Users) > 0 {
		cmd.Users = insert(t, cmd.Users, pick(t, cmd.Users))
	}
	if d[canBadEntry] && len(g.bad) > 0 {
		cmd.Users = insert(t, cmd.Users, pick(t, g.bad))
	}
	cmd.Data = g.data(t, d[canBigData])
	cmd.Push = g.push(t, d[canBigPush])
	return cmd
}

// The defects of an answer, in RULES.md §2's order.
const (
	ansBadUser = iota
	ansGone
	ansStranger
	ansCaller
	ansBigData
	ansBadDevice
	ansDefects
)

func (g *gen) answer(t *rapid.T, op Op) Command {
	d := defects(t, ansDefects)
	id, c := g.targetWhere(t, d[ansGone], g.when(func(c *modelCall) bool {
		return slices.ContainsFunc(c.members[1:], func(mb events.Member) bool { return g.canAct(mb.User) })
	}))
	cmd := Command{Op: op, CallID: id}
	if c != nil {
		// Mostly an invitee still pending; else any invitee, so that
		// repeated and changed answers come up (G3).
		var pending, invitees []string
		for _, mb := range c.members[1:] {
			if !g.canAct(mb.User) {
				continue
			}
			invitees = append(invitees, mb.User)
			if mb.State.Pending() {
				pending = append(pending, mb.User)
			}
		}
		if len(invitees) == 0 { // nobody can act: connect makes a stranger of someone
			invitees = []string{c.members[1].User}
		}
		if len(pending) > 0 && choose(t, 3, 1) == 0 {
			cmd.User = pick(t, pending)
		} else {
			cmd.User = pick(t, invitees)
		}
	} else {
		cmd.User = pick(t, g.actors())
	}
	switch {
	case d[ansBadUser] && g.badActor():
		cmd.User = pick(t, g.bad)
	case d[ansStranger]:
		cmd.User = g.stranger(t, c, true)
	case d[ansCaller] && c != nil:
		cmd.User = c.caller
	}
	cmd.Data = g.data(t, d[ansBigData])
	cmd.Device = g.device(t, d[ansBadDevice])
	return cmd
}

// when returns ok under Connected, else nil: targetWhere then draws from
// every live call, as target does.
func (g *gen) when(ok func(*modelCall) bool) func(*modelCall) bool {
	if !g.w.Connected {
		return nil
	}
	return ok
}

// acting returns the users of list that may act (see canAct), or list if
// none may.
func (g *gen) acting(list []string) []string {
	if some := slices.DeleteFunc(slices.Clone(list), func(u string) bool { return !g.canAct(u) }); len(some) > 0 {
		return some
	}
	return list
}

// login draws a Login: of any device of the pool, of one already online
// (nothing again, G8; H5: a heartbeat), or of a malformed ID.
func (g *gen) login(t *rapid.T) Command {
	return g.presence(t, OpLogin, []int{24, 6, 1, 1}, 1)
}

// heartbeat draws a Heartbeat (H5): mostly of an online device; else of any
// device of the pool, online or not, or of a malformed ID.
func (g *gen) heartbeat(t *rapid.T) Command {
	return g.presence(t, OpHeartbeat, []int{12, 4, 1, 1}, 0)
}

// presence draws op for a user and device: choose with weights picks any
// device of the pool, one already online (the choice numbered onlineAt),
// a malformed user ID (choice 2) or a malformed device (choice 3), these
// two only if the Wire allows them.
func (g *gen) presence(t *rapid.T, op Op, weights []int, onlineAt int) Command {
	if !g.badActor() {
		weights = slices.Clone(weights)
		weights[2], weights[3] = 0, 0
	}
	c := Command{Op: op, User: pick(t, g.users), Device: pick(t, g.w.Devices)}
	switch online, k := g.online(), choose(t, weights...); k {
	case onlineAt:
		if len(online) > 0 {
			c.User = pick(t, online)
			c.Device = pick(t, g.m.devices[c.User])
		}
	case 2:
		c.User = pick(t, g.bad)
	case 3:
		c.Device = pick(t, g.badSome)
	}
	return c
}

// online returns the users of the pool with an online device.
func (g *gen) online() []string {
	var online []string
	for _, u := range g.users {
		if len(g.m.devices[u]) > 0 {
			online = append(online, u)
		}
	}
	return online
}

func (g *gen) logout(t *rapid.T) Command {
	online := g.online()
	if len(online) > 0 && choose(t, 3, 1) == 0 {
		u := pick(t, online)
		return Command{Op: OpLogout, User: u, Device: pick(t, g.m.devices[u])}
	}
	return Command{Op: OpLogout, User: pick(t, g.users), Device: g.device(t, choose(t, 15, 1) == 1)}
}

// advance draws how far the clock moves: a little; to the next instant
// something of one kind falls due (a deadline, G5; a not-received check,
// H6; a heartbeat lapse, H5), a nanosecond (or a Wire.TimeUnit) before it,
// or past it; MaxTimeout; or not at all. With a Wire.TimeUnit, every step
// is a whole number of it.
func (g *gen) advance(t *rapid.T) Command {
	c := Command{Op: OpAdvance}
	var due []time.Time
	for _, next := range []func() (time.Time, bool){g.m.NextDeadline, g.m.nextCheck, g.m.nextLapse} {
		if at, ok := next(); ok {
			due = append(due, at)
		}
	}
	w := []int{20, 4, 4, 2, 1, 1}
	if len(due) == 0 {
		w[1], w[2], w[3] = 0, 0, 0
	}
	switch k := choose(t, w...); k {
	case 0:
		c.Advance = g.step(time.Duration(rapid.IntRange(1, 3000).Draw(t, "ms")) * time.Millisecond)
	case 1, 2, 3: // to the next instant of a kind: exactly, just before it, or past it
		c.Advance = g.step(pick(t, due).Sub(g.m.now))
		switch k {
		case 2:
			c.Advance -= max(g.w.TimeUnit, time.Nanosecond)
		case 3:
			c.Advance += g.step(time.Duration(rapid.IntRange(1, 5000).Draw(t, "past ms")) * time.Millisecond)
		}
	case 4:
		c.Advance = g.step(g.m.maxTimeout)
	}
	return c // case 5: no time passes, but what is due is processed
}

// advancedTarget is target for the commands of advanced mode: a live call,
// mostly an advanced one (a general one answers ErrWrongMode), unless gone
// is set.
func (g *gen) advancedTarget(t *rapid.T, gone bool) (string, *modelCall) {
	var adv []*modelCall
	for _, c := range g.m.calls {
		if c.mode == events.Advanced && (!g.w.Connected || slices.ContainsFunc(c.members, func(mb events.Member) bool { return g.canAct(mb.User) })) {
			adv = append(adv, c)
		}
	}
	if !gone && len(adv) > 0 && choose(t, 6, 1) == 0 {
		c := pick(t, adv)
		return c.id, c
	}
	return g.target(t, gone)
}

// membersWhere returns the users of c's members for which keep holds, in
// member order.
func membersWhere(c *modelCall, keep func(i int, mb events.Member) bool) []string {
	var us []string
	for i, mb := range c.members {
		if keep(i, mb) {
			us = append(us, mb.User)
		}
	}
	return us
}

func accepted(_ int, mb events.Member) bool  { return mb.State == events.Accepted }
func notInCall(_ int, mb events.Member) bool { return mb.State != events.Accepted }

// The defects of a calling invite, in RULES.md §2's order.
const (
	ciBadUser = iota
	ciGone
	ciStranger
	ciNotAccepted
	ciNoInvitees
	ciBadInvitee
	ciSelf
	ciCaller
	ciInCall
	ciDuplicate
	ciTooMany
	ciBadTimeout
	ciBigPush
	ciDefects
)

func (g *gen) callingInvite(t *rapid.T) Command {
	d := defects(t, ciDefects)
	id, c := g.advancedTarget(t, d[ciGone])
	cmd := Command{Op: OpCallingInvite, CallID: id}
	// The acting user: mostly a member in the call (A2).
	if c == nil {
		cmd.User = pick(t, g.actors())
	} else if out := g.acting(membersWhere(c, notInCall)); d[ciNotAccepted] && len(out) > 0 {
		cmd.User = pick(t, out)
	} else if in := g.acting(membersWhere(c, accepted)); len(in) > 0 {
		cmd.User = pick(t, in)
	} else {
		cmd.User = pick(t, out)
	}
	switch {
	case d[ciBadUser] && g.badActor():
		cmd.User = pick(t, g.bad)
	case d[ciStranger]:
		cmd.User = g.stranger(t, c, true)
	}

	// The list: members who left or never answered, invited again in
	// place, and users new to the call, as many as the call has room for
	// (A2: MaxInvitees+1 members ever listed).
	var again, fresh []string
	room := g.m.maxInvitees
	if c != nil {
		again = membersWhere(c, func(i int, mb events.Member) bool {
			return i > 0 && mb.User != cmd.User && mb.State != events.Accepted && !mb.State.Pending()
		})
		room = g.m.maxInvitees + 1 - len(c.members)
	}
	for _, u := range g.users {
		if u != cmd.User && (c == nil || c.index(u) < 0) {
			fresh = append(fresh, u)
		}
	}
	cmd.Users = append(g.some(t, again, 0, len(again)), g.some(t, fresh, 0, max(room, 0))...)
	if len(cmd.Users) == 0 && len(again)+len(fresh) > 0 {
		cmd.Users = []string{pick(t, slices.Concat(again, fresh))} // perhaps one too many
	}
	cmd.Users = g.some(t, cmd.Users, len(cmd.Users), len(cmd.Users)) // shuffled
	if d[ciTooMany] {
		// One user more than the call has room for.
		exclude := append(slices.Clone(cmd.Users), cmd.User)
		added := 0
		for _, u := range cmd.Users {
			if c == nil || c.index(u) < 0 {
				added++
			}
		}
		if c != nil {
			exclude = append(exclude, membersWhere(c, func(int, events.Member) bool { return true })...)
		}
		cmd.Users = append(cmd.Users, g.newcomers(max(room, 0)+1-added, exclude)...)
	}
	if d[ciSelf] {
		cmd.Users = insert(t, cmd.Users, cmd.User)
	}
	if d[ciCaller] && c != nil {
		cmd.Users = insert(t, cmd.Users, c.caller)
	}
	if d[ciInCall] && c != nil {
		if in := membersWhere(c, func(i int, mb events.Member) bool {
			return i > 0 && (mb.State == events.Accepted || mb.State.Pending())
		}); len(in) > 0 {
			cmd.Users = insert(t, cmd.Users, pick(t, in))
		}
	}
	if d[ciDuplicate] && len(cmd.Users) > 0 {
		cmd.Users = insert(t, cmd.Users, pick(t, cmd.Users))
	}
	if d[ciBadInvitee] && len(g.bad) > 0 {
		cmd.Users = insert(t, cmd.Users, pick(t, g.bad))
	}
	if d[ciNoInvitees] {
		cmd.Users = pick(t, [][]string{nil, {}})
	}

	// The timeout: mostly the call's (0), else its own.
	cmd.Timeout = g.timeout(t, d[ciBadTimeout], 8, 4, 1, 1)
	cmd.Push = g.push(t, d[ciBigPush])
	return cmd
}

// The defects of a join, quit or end, in RULES.md §2's order.
const (
	mbBadUser = iota
	mbGone
	mbStranger
	mbWrongState
	mbBigData
	mbBadDevice
	mbDefects
)

// member draws a Join, Quit or End: mostly by a member whose state allows
// it (Join: one not in the call; Quit and End: one in it); else by another
// member (Join: a no-op; Quit, End: ErrNotAccepted), a stranger, or with
// the defects of an action.
func (g *gen) member(t *rapid.T, op Op) Command {
	d := defects(t, mbDefects)
	id, c := g.advancedTarget(t, d[mbGone])
	cmd := Command{Op: op, CallID: id}
	if c == nil {
		cmd.User = pick(t, g.actors())
	} else {
		fits, other := accepted, notInCall
		if op == OpJoin {
			fits, other = notInCall, accepted
		}
		can, cannot := g.acting(membersWhere(c, fits)), g.acting(membersWhere(c, other))
		if len(can) > 0 && (len(cannot) == 0 || !d[mbWrongState]) {
			cmd.User = pick(t, can)
		} else {
			cmd.User = pick(t, cannot)
		}
	}
	switch {
	case d[mbBadUser] && g.badActor():
		cmd.User = pick(t, g.bad)
	case d[mbStranger]:
		cmd.User = g.stranger(t, c, true)
	}
	cmd.Data = g.data(t, d[mbBigData])
	cmd.Device = g.device(t, d[mbBadDevice])
	return cmd
}
