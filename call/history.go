package call

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// H8: with Options.History = N, each member keeps its N most recent ended
// calls (ZIM's queryCallInvitationList).

// histEntry is one ended call in a user's history, numbered so that a cursor
// stays valid while newer calls end and older ones are evicted.
type histEntry struct {
	seq  uint64
	info Info // shared by the members' histories: read-only
}

// maxHistoryPage is the most calls History returns at once.
const maxHistoryPage = 100

// remember files a call that ended at now in each member's history.
func (r *Registry) remember(c *callRecord, now time.Time) {
	n := r.s.history
	if n <= 0 {
		return
	}
	info := c.info()
	info.EndedAt = now
	for i := range c.links() {
		if c.links()[i].c == nil {
			continue
		}
		u := c.links()[i].rec()
		if u == nil {
			u = r.recordFor(c.Members()[i].User)
		}
		extra := u.makeExtras()
		extra.histSeq++
		if len(extra.history) >= n {
			// Evict the oldest in place (no allocation per ended call), and
			// clear the slots left behind so the evicted Info is freed.
			kept := copy(extra.history, extra.history[len(extra.history)-n+1:])
			clear(extra.history[kept:])
			extra.history = extra.history[:kept]
		}
		extra.history = append(extra.history, histEntry{seq: extra.histSeq, info: info})
	}
}

// History returns user's ended calls, newest first, at most count of them
// (count <= 0 or > 100 means 100), starting after cursor ("" for the
// newest); next is the cursor of the following page, "" on the last (H8).
// A user sees only calls it was a member of, with their final member states
// and EndedAt. Cursors are opaque, stay valid while newer calls end, and
// survive Snapshot/Restore; one into calls no longer kept (evicted, or
// dropped with the user, below) gives an empty page and "". A malformed
// cursor, or one made for another user, is ErrInvalidArgument; an invalid
// user ID ErrInvalidUser; a user with no history gets an empty list and
// nil. History reads no clock and processes nothing (D4).
//
// A user with a history but no online device and no live call is idle,
// kept only for its history. At most 100,000 idle users are kept: once
// more are, the one idle longest (whose last device or call went first)
// is dropped, its history with it, so that memory does not grow with
// every user who ever had a call. A user that logs in or joins a call
// before then keeps its history and is idle no longer; a History query
// does not count. Snapshot and Restore keep the idle order, so a restored
// Registry drops the same users (D2).
func (r *Registry) History(user string, count int, cursor string) (calls []Info, next string, err error) {
	if !core.ValidID(user) {
		return nil, "", newErr("history", "", user, ErrInvalidUser, "")
	}
	if count <= 0 || count > maxHistoryPage {
		count = maxHistoryPage
	}
	before, tag := uint64(1<<64-1), ""
	if cursor != "" {
		seq, t, ok := parseCursor(user, cursor)
		if !ok {
			return nil, "", newErr("history", "", user, ErrInvalidArgument, "malformed cursor, or another user's")
		}
		before, tag = seq, t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var hist []histEntry
	if u := r.record(user); u != nil {
		hist = u.history()
	}
	calls = []Info{}
	i := len(hist) - 1
	for ; i >= 0 && hist[i].seq > before; i-- {
	}
	if cursor != "" {
		// The cursor's entry must still be there, the same call: when
		// eviction took it, it took every older one; when the user was
		// dropped (the idle bound), the history the cursor paged is gone,
		// and the user's new one, numbered afresh, is none of it.
		if i < 0 || hist[i].seq != before || tag != "" && tag != entryTag(&hist[i].info) {
			return calls, "", nil
		}
		i--
	}
	for ; i >= 0 && len(calls) < count; i-- {
		info := hist[i].info
		info.Members = append([]events.Member(nil), info.Members...)
		calls = append(calls, info)
		before = hist[i].seq
	}
	if i >= 0 {
		next = makeCursor(user, before, entryTag(&hist[i+1].info))
	}
	return calls, next, nil
}

// A cursor is "h2:<seq>:<tag>:<user>" in URL-safe base64: the number of
// the last entry returned, that entry's tag (entryTag), and whose history
// it pages. "h1:<seq>:<user>", without the tag, is read too.
func makeCursor(user string, seq uint64, tag string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("h2:" + strconv.FormatUint(seq, 10) + ":" + tag + ":" + user))
}

func parseCursor(user, cursor string) (seq uint64, tag string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, "", false
	}
	rest, v2 := strings.CutPrefix(string(b), "h2:")
	if !v2 {
		if rest, ok = strings.CutPrefix(rest, "h1:"); !ok {
			return 0, "", false
		}
	}
	num, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", false
	}
	if v2 {
		if tag, rest, ok = strings.Cut(rest, ":"); !ok || len(tag) != 16 {
			return 0, "", false
		}
	}
	if rest != user {
		return 0, "", false
	}
	seq, err = strconv.ParseUint(num, 10, 64)
	return seq, tag, err == nil && seq > 0
}

// entryTag tells one ended call from another in a cursor: FNV-1a of its
// ID and EndedAt, which a Snapshot keeps, as 16 hex digits.
func entryTag(info *Info) string {
	h := fnv.New64a()
	h.Write([]byte(info.CallID))
	h.Write(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, uint64(info.EndedAt.Unix())), uint32(info.EndedAt.Nanosecond())))
	return fmt.Sprintf("%016x", h.Sum64())
}

// restoreIdle files the users a snapshot lists as idle, in its idle order
// (idle[k] the (k+1)-th longest idle), once the calls and devices are
// restored: they must be exactly the users with a history and neither a
// device nor a live call (H8). Beyond maxIdleUsers, the longest idle are
// dropped, as a live Registry would have.
func (r *Registry) restoreIdle(idle []*user) error {
	for k, u := range idle {
		switch {
		case u == nil:
			return badSnapshot("idle place %d missing", k+1)
		case u.head != nil || len(u.devices) > 0:
			return badSnapshot("history of %s: idle, with a device or a live call", core.QuoteID(u.id))
		}
		r.users.idle.push(u)
	}
	var err error
	r.users.each(func(u *user) {
		if err == nil && !u.isIdle() && u.head == nil && len(u.devices) == 0 {
			err = badSnapshot("history of %s: neither idle nor in a call or online", core.QuoteID(u.id))
		}
	})
	if err != nil {
		return err
	}
	for r.users.idle.n > r.users.idle.bound() {
		r.drop(r.users.idle.head)
	}
	return nil
}
