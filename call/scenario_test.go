package call_test

// The golden scenarios in testdata/scenarios tell the seed's flows (and the
// rules of RULES.md that govern them) as short stories: a command, then what
// the Registry answered and every event it produced. Run
//
//	go test ./call -run TestScenarios -rewrite
//
// to rewrite the expected output after a deliberate change, then read the
// diff: the files are only worth something if what they record is right.
//
// The command language (every file starts with a fresh Registry: default
// Options, a Manual clock at +0s, call IDs c1, c2, … from Options.NewID):
//
//	options [max-invitees=N] [default-timeout=D] [max-timeout=D] [max-data=N]
//	        a fresh Registry (and clock, IDs) with these Options
//	login user=U [device=D]          Registry.Login
//	logout user=U [device=D]         Registry.Logout
//	invite from=U to=U1,U2 [timeout=D] [data=S] [push=(title:S, content:S, payload:S)]
//	       [mode=General|Advanced|N] [callid=S]   (the mode's case does not matter)
//	cancel by=U call=C [to=U1,U2] [data=S] [push=…]
//	accept by=U call=C [data=S] [device=D]
//	reject by=U call=C [data=S] [device=D]
//	callinginvite by=U call=C to=U1,U2 [timeout=D] [push=…]
//	                                 Registry.CallingInvite (advanced mode, A2)
//	join by=U call=C [data=S] [device=D]
//	                                 Registry.Join (A3); on success it prints
//	                                 the returned Info's members
//	quit by=U call=C [data=S] [device=D]   Registry.Quit (A4)
//	end by=U call=C [data=S] [device=D]    Registry.End (A5)
//	advance D                        Manual.Advance: the clock moves, due timers fire
//	set +D                           Manual.Set to the start plus D
//	jump D                           the clock's reading moves by D (negative too)
//	                                 but its timers are held back: they fire late,
//	                                 at the next advance or set
//	call C                           Registry.Call: the Info view
//	len                              Registry.Len
//	pending                          Manual.Pending: clock timers armed
//
// Values: a value in double quotes is a Go string literal ("bob\x00"); S*N
// is S repeated N times (x*129); a list is comma-separated, and an empty
// list is written to= (to="" is a list of one empty ID).
//
// Output: a command prints "ok …" or "error: <message> (matches ErrXxx)",
// naming every sentinel the error matches with errors.Is; presence changes
// and clock moves print "no events" when nothing happened. Then one line per
// event, in the order the Sink got them:
//
//	c1#2 InvitationReceived -> bob[phone] (offline) at=+30s from=alice[pc] data=hi
//	     push=title:Call deadline=+30s reason=Timeout members=[alice:Accepted bob:Received]
//
// that is CallID#Seq Kind -> To[ToDevice], then only the fields that are not
// zero. Times are relative to the start; at= is shown only when the event's
// At is not the reading of the input that produced it (the Time rule). A
// member shows its Deadline and Data only where they differ from the event's
// own, and its Inviter only where it is not the caller. Caller is shown only
// if it is not the user who invited the call, Mode only if it is not
// General. The harness fails a scenario whose Seq numbers are not 1, 2, 3, …
// per call (G9).

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/cockroachdb/datadriven"
)

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		s := newScenario(t)
		datadriven.RunTest(t, path, s.run)
	})
}

// start is the clock reading every scenario begins at, printed as +0s.
var start = time.Date(2025, time.January, 1, 9, 0, 0, 0, time.UTC)

// sentinels are the errors a command may match, by name.
var sentinels = []struct {
	name string
	err  error
}{
	{"ErrInvalidOption", call.ErrInvalidOption},
	{"ErrInvalidUser", call.ErrInvalidUser},
	{"ErrInvalidCallID", call.ErrInvalidCallID},
	{"ErrInvalidArgument", call.ErrInvalidArgument},
	{"ErrNoInvitees", call.ErrNoInvitees},
	{"ErrTooManyInvitees", call.ErrTooManyInvitees},
	{"ErrDuplicateInvitee", call.ErrDuplicateInvitee},
	{"ErrSelfInvite", call.ErrSelfInvite},
	{"ErrInvalidTimeout", call.ErrInvalidTimeout},
	{"ErrDataTooLarge", call.ErrDataTooLarge},
	{"ErrCallExists", call.ErrCallExists},
	{"ErrCallNotFound", call.ErrCallNotFound},
	{"ErrNotInviter", call.ErrNotInviter},
	{"ErrNotInvitee", call.ErrNotInvitee},
	{"ErrNotPending", call.ErrNotPending},
	{"ErrAlreadyAccepted", call.ErrAlreadyAccepted},
	{"ErrWrongMode", call.ErrWrongMode},
	{"ErrJournal", call.ErrJournal},
	{"ErrNotAccepted", call.ErrNotAccepted},
}

// lateClock is a Manual clock whose reading can run ahead of its timers:
// jump moves Now without firing anything, as when a host's timer fires late
// (or, with a negative jump, when the clock steps back). release lets the
// held timers catch up.
type lateClock struct {
	m    *clock.Manual
	mu   sync.Mutex
	skew time.Duration
}

func (c *lateClock) Now() time.Time {
	c.mu.Lock()
	skew := c.skew
	c.mu.Unlock()
	return c.m.Now().Add(skew)
}

// AfterFunc arms a timer of the Manual clock: while the reading is skewed
// ahead, it fires that much late.
func (c *lateClock) AfterFunc(d time.Duration, f func()) clock.Timer { return c.m.AfterFunc(d, f) }

func (c *lateClock) jump(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

// release ends a jump: the Manual clock catches up with the reading, firing
// the timers that were held back (each sees its own deadline as Now, which
// the Registry treats as its last reading, D3).
func (c *lateClock) release() {
	c.mu.Lock()
	skew := c.skew
	c.skew = 0
	c.mu.Unlock()
	if skew > 0 {
		c.m.Advance(skew)
	}
}

// scenario is the state of one scenario file.
type scenario struct {
	t       *testing.T
	clk     *lateClock
	rec     *events.Recorder
	reg     *call.Registry
	ids     int
	callers map[string]string // call ID → who invited it, for the Caller check
	seqs    map[string]uint64 // call ID → last Seq seen (G9)
	next    string            // the last History cursor (H8), for cursor=next
}

func newScenario(t *testing.T) *scenario {
	s := &scenario{t: t}
	if err := s.reset(call.Options{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// reset replaces the Registry, clock and ID counter; on an error it keeps
// the old ones.
func (s *scenario) reset(o call.Options) error {
	clk := &lateClock{m: clock.NewManual(start)}
	rec := &events.Recorder{}
	o.Clock, o.Sink = clk, rec
	o.NewID = func() string {
		s.ids++
		return "c" + strconv.Itoa(s.ids)
	}
	reg, err := call.NewRegistry(o)
	if err != nil {
		return err
	}
	s.clk, s.rec, s.reg, s.ids = clk, rec, reg, 0
	s.callers, s.seqs = map[string]string{}, map[string]uint64{}
	return nil
}

// run executes one directive and returns its output.
func (s *scenario) run(t *testing.T, d *datadriven.TestData) string {
	s.t = t
	a := &args{t: t, d: d, used: map[string]bool{}}
	var b strings.Builder
	switch d.Cmd {
	case "options":
		var o call.Options
		o.MaxInvitees = a.int("max-invitees")
		o.DefaultTimeout = a.duration("default-timeout")
		o.MaxTimeout = a.duration("max-timeout")
		o.MaxDataLen = a.int("max-data")
		switch busy := a.str("busy"); busy {
		case "", "off":
		case "incall":
			o.Busy = call.BusyInCall
		default:
			t.Fatalf("%s: busy=%q: want off or incall", d.Pos, busy)
		}
		switch glare := a.str("glare"); glare {
		case "", "off":
		case "merge":
			o.Glare = call.GlareMerge
		default:
			t.Fatalf("%s: glare=%q: want off or merge", d.Pos, glare)
		}
		o.History = a.int("history")
		o.NotReceivedAfter = a.duration("not-received")
		o.HeartbeatTimeout = a.duration("heartbeat")
		if refused := a.list("refuse"); refused != nil { // H7: Admit refuses these users
			o.Admit = func(inviter, invitee string) error {
				if slices.Contains(refused, invitee) {
					return fmt.Errorf("%s blocked by policy", invitee)
				}
				return nil
			}
		}
		a.done()
		s.result(&b, s.reset(o), "ok")
		return b.String()
	case "login", "logout", "heartbeat":
		user, device := a.str("user"), a.str("device")
		a.done()
		switch d.Cmd {
		case "login":
			s.reg.Login(user, device)
		case "logout":
			s.reg.Logout(user, device)
		default:
			s.reg.Heartbeat(user, device)
		}
		s.printEvents(&b, "no events")
	case "invite":
		from, to := a.str("from"), a.list("to")
		cfg := call.InviteConfig{
			Timeout:      a.duration("timeout"),
			ExtendedData: a.str("data"),
			Push:         a.push("push"),
			Mode:         a.mode("mode"),
			CallID:       a.str("callid"),
		}
		a.done()
		res, err := s.reg.Invite(from, to, cfg)
		if err == nil {
			s.callers[res.CallID] = from
		}
		s.result(&b, err, s.inviteResult(res))
		s.printEvents(&b, "")
	case "cancel":
		by, id, to := a.str("by"), a.str("call"), a.list("to")
		cfg := call.CancelConfig{ExtendedData: a.str("data"), Push: a.push("push")}
		a.done()
		failed, err := s.reg.Cancel(by, id, to, cfg)
		ok := "ok"
		if failed != nil {
			ok += " failed=[" + strings.Join(failed, " ") + "]"
		}
		s.result(&b, err, ok)
		s.printEvents(&b, "")
	case "accept", "reject":
		by, id, data, device := a.str("by"), a.str("call"), a.str("data"), a.str("device")
		a.done()
		var err error
		if d.Cmd == "accept" {
			err = s.reg.Accept(by, id, call.AcceptConfig{ExtendedData: data, Device: device})
		} else {
			err = s.reg.Reject(by, id, call.RejectConfig{ExtendedData: data, Device: device})
		}
		s.result(&b, err, "ok")
		s.printEvents(&b, "")
	case "callinginvite":
		by, id, to := a.str("by"), a.str("call"), a.list("to")
		cfg := call.CallingInviteConfig{Timeout: a.duration("timeout"), Push: a.push("push")}
		a.done()
		res, err := s.reg.CallingInvite(by, id, to, cfg)
		s.result(&b, err, s.inviteResult(res))
		s.printEvents(&b, "")
	case "join":
		by, id := a.str("by"), a.str("call")
		cfg := call.JoinConfig{ExtendedData: a.str("data"), Device: a.str("device")}
		a.done()
		info, err := s.reg.Join(by, id, cfg)
		ok := ""
		if err == nil {
			ok = "ok members=["
			for i, m := range info.Members {
				if i > 0 {
					ok += " "
				}
				ok += s.member(m, info.Caller, time.Time{}, "")
			}
			ok += "]"
		}
		s.result(&b, err, ok)
		s.printEvents(&b, "")
	case "quit", "end":
		by, id, data, device := a.str("by"), a.str("call"), a.str("data"), a.str("device")
		a.done()
		var err error
		if d.Cmd == "quit" {
			err = s.reg.Quit(by, id, call.QuitConfig{ExtendedData: data, Device: device})
		} else {
			err = s.reg.End(by, id, call.EndConfig{ExtendedData: data, Device: device})
		}
		s.result(&b, err, "ok")
		s.printEvents(&b, "")
	case "advance", "set", "jump":
		dur := a.bare()
		a.done()
		switch d.Cmd {
		case "advance":
			s.clk.release()
			s.clk.m.Advance(dur)
		case "set":
			s.clk.release()
			s.clk.m.Set(start.Add(dur))
		case "jump":
			s.clk.jump(dur)
		}
		fmt.Fprintf(&b, "now=%s", s.rel(s.clk.Now()))
		if d.Cmd == "jump" {
			b.WriteString(" (timers held)")
		}
		b.WriteByte('\n')
		s.printEvents(&b, "")
	case "call":
		if len(d.CmdArgs) != 1 {
			t.Fatalf("%s: call takes one call ID", d.Pos)
		}
		id := expand(t, d.CmdArgs[0].Key)
		info, ok := s.reg.Call(id)
		if !ok {
			return "not found\n"
		}
		s.printInfo(&b, info)
	case "history":
		user, count := a.str("user"), a.int("count")
		cursor := a.str("cursor")
		if cursor == "next" {
			cursor = s.next
		}
		a.done()
		calls, next, err := s.reg.History(user, count, cursor)
		if err != nil {
			s.result(&b, err, "")
			return b.String()
		}
		s.next = next
		for _, info := range calls {
			fmt.Fprintf(&b, "ended=%s ", s.rel(info.EndedAt))
			s.printInfo(&b, info)
		}
		if next == "" {
			b.WriteString("(last page)\n")
		} else {
			b.WriteString("next page: cursor=next\n")
		}
	case "len":
		a.done()
		return strconv.Itoa(s.reg.Len()) + "\n"
	case "pending":
		a.done()
		return strconv.Itoa(s.clk.m.Pending()) + "\n"
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	return b.String()
}

// inviteResult is what Invite and CallingInvite print on success.
func (s *scenario) inviteResult(res call.InviteResult) string {
	ok := fmt.Sprintf("ok call=%s timeout=%v deadline=%s", show(res.CallID), res.Timeout, s.rel(res.Deadline))
	for _, f := range res.Failed {
		ok += fmt.Sprintf(" failed=%s:%v", f.User, f.Err)
	}
	if res.Merged {
		ok += " merged"
	}
	return ok
}

// result prints ok, or the error and the sentinels it matches.
func (s *scenario) result(b *strings.Builder, err error, ok string) {
	if err == nil {
		b.WriteString(ok)
		b.WriteByte('\n')
		return
	}
	var names []string
	for _, x := range sentinels {
		if errors.Is(err, x.err) {
			names = append(names, x.name)
		}
	}
	match := "matches no sentinel"
	if names != nil {
		match = "matches " + strings.Join(names, ", ")
	}
	fmt.Fprintf(b, "error: %s (%s)\n", abbreviate(err.Error()), match)
}

// rel prints t relative to the start: +30s.
func (s *scenario) rel(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	d := t.Sub(start)
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// printEvents prints the events the Sink got since the last directive, or
// none when there were none (if none is not empty).
func (s *scenario) printEvents(b *strings.Builder, none string) {
	evs := s.rec.Take()
	if len(evs) == 0 && none != "" {
		b.WriteString(none)
		b.WriteByte('\n')
	}
	now := s.clk.Now()
	for _, e := range evs {
		s.checkSeq(e)
		s.printEvent(b, e, now)
	}
}

// checkSeq fails the scenario unless e continues its call's Seq (G9). A
// Seq of 1 starts a call, or a new call under an ID used before (G11).
func (s *scenario) checkSeq(e events.Event) {
	if e.Seq != 1 && e.Seq != s.seqs[e.CallID]+1 {
		s.t.Errorf("%s#%d %v: Seq does not follow %d (G9)", e.CallID, e.Seq, e.Kind, s.seqs[e.CallID])
	}
	s.seqs[e.CallID] = e.Seq
}

func (s *scenario) printEvent(b *strings.Builder, e events.Event, now time.Time) {
	fmt.Fprintf(b, "%s#%d %v -> %s", show(e.CallID), e.Seq, e.Kind, show(e.To))
	if e.ToDevice != "" {
		fmt.Fprintf(b, "[%s]", show(e.ToDevice))
	}
	if e.Offline {
		b.WriteString(" (offline)")
	}
	if !e.At.Equal(now) {
		fmt.Fprintf(b, " at=%s", s.rel(e.At))
	}
	if e.Mode != events.General {
		fmt.Fprintf(b, " mode=%v", e.Mode)
	}
	if e.Caller != s.callers[e.CallID] {
		fmt.Fprintf(b, " caller=%s", show(e.Caller))
	}
	if e.From != "" {
		fmt.Fprintf(b, " from=%s", show(e.From))
	}
	if e.Device != "" {
		fmt.Fprintf(b, "[%s]", show(e.Device))
	}
	if e.Data != "" {
		fmt.Fprintf(b, " data=%s", show(e.Data))
	}
	if e.Push != nil {
		fmt.Fprintf(b, " push=%s", showPush(e.Push))
	}
	if !e.Deadline.IsZero() {
		fmt.Fprintf(b, " deadline=%s", s.rel(e.Deadline))
	}
	if e.Reason != events.ReasonNone {
		fmt.Fprintf(b, " reason=%v", e.Reason)
	}
	if e.Members != nil {
		b.WriteString(" members=[")
		for i, m := range e.Members {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s.member(m, e.Caller, e.Deadline, e.Data))
		}
		b.WriteByte(']')
	}
	b.WriteByte('\n')
}

// member prints m as user:State, with the details that differ from what its
// event already says: (deadline=+30s data=ok by=carol).
func (s *scenario) member(m events.Member, caller string, deadline time.Time, data string) string {
	var details []string
	if !m.Deadline.IsZero() && !(m.State.Pending() && m.Deadline.Equal(deadline)) {
		details = append(details, "deadline="+s.rel(m.Deadline))
	}
	if m.Data != "" && m.Data != data {
		details = append(details, "data="+show(m.Data))
	}
	if (m.User == caller) != (m.Inviter == "") || (m.Inviter != "" && m.Inviter != caller) {
		details = append(details, "by="+show(m.Inviter))
	}
	out := show(m.User) + ":" + m.State.String()
	if details != nil {
		out += "(" + strings.Join(details, " ") + ")"
	}
	return out
}

// printInfo prints a call's Info: a header, then one member a line.
func (s *scenario) printInfo(b *strings.Builder, info call.Info) {
	fmt.Fprintf(b, "%s caller=%s", show(info.CallID), show(info.Caller))
	if info.Mode != events.General {
		fmt.Fprintf(b, " mode=%v", info.Mode)
	}
	fmt.Fprintf(b, " created=%s timeout=%v", s.rel(info.CreatedAt), info.Timeout)
	if info.ExtendedData != "" {
		fmt.Fprintf(b, " data=%s", show(info.ExtendedData))
	}
	b.WriteByte('\n')
	for _, m := range info.Members {
		fmt.Fprintf(b, "  %s\n", s.member(m, info.Caller, time.Time{}, ""))
	}
}

// show prints a string as it would be written in a scenario: bare when it
// is a plain token, else quoted; long runs abbreviated (x*129).
func show(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\"\\()[],=") || strconv.Quote(v) != `"`+v+`"` {
		v = strconv.Quote(v)
	}
	return abbreviate(v)
}

func showPush(p *events.Push) string {
	var f []string
	for _, kv := range [...][2]string{{"title", p.Title}, {"content", p.Content}, {"payload", p.Payload}} {
		if kv[1] != "" {
			f = append(f, kv[0]+":"+show(kv[1]))
		}
	}
	if len(f) == 1 {
		return f[0]
	}
	return "(" + strings.Join(f, ", ") + ")"
}

// abbreviate writes every run of 16 or more of one letter or digit as x*N,
// the way scenarios write long IDs and data.
func abbreviate(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		j, n := i+size, 1
		for strings.HasPrefix(s[j:], s[i:i+size]) {
			j += size
			n++
		}
		if n >= 16 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			fmt.Fprintf(&b, "%c*%d", r, n)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// args reads a directive's arguments, failing on any it does not use.
type args struct {
	t    *testing.T
	d    *datadriven.TestData
	used map[string]bool
}

// vals returns the values of key, and whether it was given.
func (a *args) vals(key string) ([]string, bool) {
	a.used[key] = true
	arg, ok := a.d.Arg(key)
	if !ok {
		return nil, false
	}
	return arg.Vals, true
}

func (a *args) str(key string) string {
	v, ok := a.vals(key)
	if !ok {
		return ""
	}
	if len(v) != 1 {
		a.t.Fatalf("%s: %s takes one value", a.d.Pos, key)
	}
	return expand(a.t, v[0])
}

func (a *args) int(key string) int {
	v := a.str(key)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		a.t.Fatalf("%s: %s: %v", a.d.Pos, key, err)
	}
	return n
}

func (a *args) duration(key string) time.Duration {
	return a.parseDuration(key, a.str(key))
}

func (a *args) parseDuration(key, v string) time.Duration {
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(strings.TrimPrefix(v, "+"))
	if err != nil {
		a.t.Fatalf("%s: %s: %v", a.d.Pos, key, err)
	}
	return d
}

// bare reads the one argument of advance, set and jump: a duration.
func (a *args) bare() time.Duration {
	if len(a.d.CmdArgs) != 1 || a.d.CmdArgs[0].Vals != nil {
		a.t.Fatalf("%s: %s takes one duration", a.d.Pos, a.d.Cmd)
	}
	a.used[a.d.CmdArgs[0].Key] = true
	return a.parseDuration(a.d.Cmd, a.d.CmdArgs[0].Key)
}

// list reads a comma-separated list; nil when key is absent or empty.
func (a *args) list(key string) []string {
	v, ok := a.vals(key)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range v {
		if s == "" {
			continue
		}
		for _, item := range strings.Split(s, ",") {
			out = append(out, expand(a.t, strings.TrimSpace(item)))
		}
	}
	return out
}

// push reads push=(title:S, content:S, payload:S), any of them.
func (a *args) push(key string) *events.Push {
	v, ok := a.vals(key)
	if !ok {
		return nil
	}
	p := &events.Push{}
	for _, s := range v {
		for _, f := range strings.Split(s, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(f), ":")
			val = expand(a.t, val)
			switch k {
			case "title":
				p.Title = val
			case "content":
				p.Content = val
			case "payload":
				p.Payload = val
			default:
				a.t.Fatalf("%s: push field %q", a.d.Pos, k)
			}
		}
	}
	return p
}

func (a *args) mode(key string) events.Mode {
	v := a.str(key)
	if v == "" {
		return events.General
	}
	if m, ok := events.ParseMode(v); ok {
		return m
	}
	for m := events.General; m <= events.Advanced; m++ {
		if strings.EqualFold(v, m.String()) {
			return m
		}
	}
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		a.t.Fatalf("%s: mode %q", a.d.Pos, v)
	}
	return events.Mode(n)
}

// done fails the directive if it has an argument no reader asked for.
func (a *args) done() {
	for _, arg := range a.d.CmdArgs {
		if !a.used[arg.Key] {
			a.t.Fatalf("%s: %s does not take %q", a.d.Pos, a.d.Cmd, arg.Key)
		}
	}
}

var repeatRE = regexp.MustCompile(`^(.+)\*([0-9]+)$`)

// expand reads a value: "…" is a Go string literal, S*N is S repeated N
// times.
func expand(t *testing.T, v string) string {
	if m := repeatRE.FindStringSubmatch(v); m != nil {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Repeat(unquote(t, m[1]), n)
	}
	return unquote(t, v)
}

func unquote(t *testing.T, v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	u, err := strconv.Unquote(v)
	if err != nil {
		t.Fatalf("bad string literal %s: %v", v, err)
	}
	return u
}
