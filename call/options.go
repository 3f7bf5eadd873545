package call

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// Options configure a Registry. The zero value of every field means its
// default, so Options{} is a working configuration.
type Options struct {
	Clock          clock.Clock   // nil: clock.Real()
	Sink           events.Sink   // nil: events.Discard
	NewID          func() string // call IDs, asked under the lock by each invite about to create a call; nil: random, unique, URL-safe (128 bits)
	MaxInvitees    int           // invitees a call may hold; 0: 9; at most 100
	DefaultTimeout time.Duration // used when InviteConfig.Timeout is 0; 0: min(90s, MaxTimeout)
	MaxTimeout     time.Duration // 0: 600s; the least timeout is always 1s
	MaxDataLen     int           // bytes of ExtendedData (and of Push fields together); 0: 2048
	Journal        Journal       // nil: none (D1); a Syncer gets group commit (output commit, see Syncer)

	// RecoverySink receives the events Recover replays while it rebuilds
	// the state, which clients may have heard before the crash; nil: they
	// go to Sink like live ones. Events of inputs after Recover returns
	// always go to Sink. Restore and NewRegistry do not use it.
	RecoverySink events.Sink

	// ResumeHeartbeats makes Recover count the recovery as a heartbeat
	// of every device online in the state it rebuilt (H5): their
	// deadlines restart from the clock's reading at the end of Recover,
	// journaled as an OpResume entry, instead of falling due at once when
	// they passed while the host was down. A host that gives the devices
	// of a crashed server a grace period to reconnect wants it, so that
	// their users' unanswered calls are not cancelled at the restart
	// (G7). Off: every deadline, heartbeats included, falls due as D2
	// says. Only Recover uses it, and only with HeartbeatTimeout.
	ResumeHeartbeats bool

	// Logger gets a line for what a host must hear of without asking:
	// a Journal that starts refusing inputs and starts accepting them
	// again, a panic in host code the Registry recovered from (C6), an
	// overload that begins and ends (C5). Never a line per command: the
	// refusals in between are counted (Registry.Stats). Lines are written
	// without the Registry's lock held, once the input that made them has
	// let it go: the Handler may call the Registry. nil: no lines.
	Logger *slog.Logger

	// MaxBacklog bounds the events produced and not yet handed to the Sink
	// (Registry.Backlog): while that many or more wait, every command is
	// refused with ErrOverloaded before anything else is checked, changes
	// nothing and is not journaled (C5). Login, Logout, Heartbeat, Replay,
	// the passing of time and Apply are never refused for load, so the backlog
	// can pass the limit by the events of one such input, or of one slice
	// of a burst of deadlines, and no more, but for an input the Sink makes
	// from inside Emit (RULES.md C5). 0: DefaultMaxBacklog; < 0: no limit.
	MaxBacklog int

	// TransientMembers makes Event.Members valid only until Emit returns:
	// the Registry then reuses the memory of the calls that ended and of
	// the members lists it handed out, instead of leaving them to the
	// collector. A Sink that keeps an event past Emit must keep
	// e.Detach(), as events.Recorder does. A general call then allocates
	// nothing but its ID, which spares the collector most of its work (B1,
	// B4; BENCHMARKS.md has the figures). Off by default: Members are
	// shared and read-only, and a Sink may keep them as they are.
	TransientMembers bool

	// Host policies (RULES.md §5), each off by default.
	Busy             BusyPolicy                          // H2: BusyOff (zero) | BusyInCall: Accepted in another live call; a general call is forgotten once answered (see BusyInCall)
	Glare            GlarePolicy                         // H3: GlareOff (zero) | GlareMerge
	Admit            func(inviter, invitee string) error // H7: nil admits everyone; called outside the Registry's lock
	History          int                                 // H8: ended calls kept per user; 0: none. Users kept only for it: at most 100,000, see Registry.History
	NotReceivedAfter time.Duration                       // H6: 0: no check
	HeartbeatTimeout time.Duration                       // H5: 0: no heartbeats
}

// The defaults and bounds of Options.
const (
	DefaultMaxInvitees = 9
	DefaultMaxDataLen  = 2048
	DefaultTimeout     = 90 * time.Second
	DefaultMaxTimeout  = 600 * time.Second
	DefaultMaxBacklog  = 65536
	MinTimeout         = core.MinTimeout
	maxMaxInvitees     = 100
)

// settings are Options with every default filled in.
type settings struct {
	clock          clock.Clock
	sink           events.Sink
	newID          func() string // Options.NewID; nil: randomID, made before the lock (see Invite)
	maxInvitees    int
	defaultTimeout time.Duration
	maxTimeout     time.Duration
	maxDataLen     int
	journal        Journal
	logger         *slog.Logger
	busy           BusyPolicy
	glare          GlarePolicy
	history        int
	notReceived    time.Duration
	heartbeat      time.Duration
	admit          func(inviter, invitee string) error
	transient      bool
	maxBacklog     int // C5: 0 means no limit
}

// limits returns the options the core reads.
func (s *settings) limits() core.Limits {
	return core.Limits{MaxInvitees: s.maxInvitees, MaxTimeout: s.maxTimeout, MaxData: s.maxDataLen, NotReceived: s.notReceived}
}

// resolve checks o and fills in its defaults. All bounds are inclusive.
func (o Options) resolve() (settings, error) {
	bad := func(format string, a ...any) (settings, error) {
		return settings{}, &Error{Op: "options", Err: ErrInvalidOption, Detail: fmt.Sprintf(format, a...)}
	}
	switch {
	case o.MaxInvitees < 0:
		return bad("MaxInvitees %d is negative", o.MaxInvitees)
	case o.MaxInvitees > maxMaxInvitees:
		return bad("MaxInvitees %d is over %d", o.MaxInvitees, maxMaxInvitees)
	case o.DefaultTimeout < 0:
		return bad("DefaultTimeout %v is negative", o.DefaultTimeout)
	case o.MaxTimeout < 0:
		return bad("MaxTimeout %v is negative", o.MaxTimeout)
	case o.MaxDataLen < 0:
		return bad("MaxDataLen %d is negative", o.MaxDataLen)
	case o.Busy > BusyInCall:
		return bad("unknown Busy policy %d", o.Busy)
	case o.HeartbeatTimeout < 0:
		return bad("HeartbeatTimeout %v is negative", o.HeartbeatTimeout)
	case o.NotReceivedAfter < 0:
		return bad("NotReceivedAfter %v is negative", o.NotReceivedAfter)
	case o.History < 0:
		return bad("History %d is negative", o.History)
	case o.Glare > GlareMerge:
		return bad("unknown Glare policy %d", o.Glare)
	}
	s := settings{
		clock:          o.Clock,
		sink:           o.Sink,
		newID:          o.NewID,
		maxInvitees:    o.MaxInvitees,
		defaultTimeout: o.DefaultTimeout,
		maxTimeout:     o.MaxTimeout,
		maxDataLen:     o.MaxDataLen,
		journal:        o.Journal,
		logger:         o.Logger,
		busy:           o.Busy,
		glare:          o.Glare,
		history:        o.History,
		notReceived:    o.NotReceivedAfter,
		heartbeat:      o.HeartbeatTimeout,
		admit:          o.Admit,
		transient:      o.TransientMembers,
		maxBacklog:     o.MaxBacklog,
	}
	switch {
	case s.maxBacklog == 0:
		s.maxBacklog = DefaultMaxBacklog
	case s.maxBacklog < 0:
		s.maxBacklog = 0
	}
	if s.clock == nil {
		s.clock = clock.Real()
	}
	if s.sink == nil {
		s.sink = events.Discard
	}
	if s.maxInvitees == 0 {
		s.maxInvitees = DefaultMaxInvitees
	}
	if s.maxDataLen == 0 {
		s.maxDataLen = DefaultMaxDataLen
	}
	if s.maxTimeout == 0 {
		s.maxTimeout = DefaultMaxTimeout
	}
	if s.maxTimeout < MinTimeout {
		return bad("MaxTimeout %v is under %v", s.maxTimeout, MinTimeout)
	}
	if s.defaultTimeout == 0 {
		s.defaultTimeout = min(DefaultTimeout, s.maxTimeout)
	} else if s.defaultTimeout < MinTimeout || s.defaultTimeout > s.maxTimeout {
		return bad("DefaultTimeout %v is outside [%v, %v]", s.defaultTimeout, MinTimeout, s.maxTimeout)
	}
	return s, nil
}
