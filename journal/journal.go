package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/callsig/callsig/call"
)

// DefaultSegmentSize is the segment size limit when Options.SegmentSize is
// zero.
const DefaultSegmentSize = 64 << 20

// Options configure a Journal. The zero value is ready to use.
type Options struct {
	// SegmentSize: a new segment is started when the next record would
	// take the current one past this many bytes (a record bigger than
	// that gets a segment of its own). 0: DefaultSegmentSize; negative:
	// Open fails with call.ErrInvalidOption.
	SegmentSize int64
	// SyncEachAppend makes every Append fsync its record before it
	// returns, one fsync per entry, with no group commit; Sync then has
	// nothing left to do. It exists to measure what group commit saves.
	SyncEachAppend bool

	// wrap, when set, wraps each segment file opened for writing: tests
	// count and order fsyncs through it.
	wrap func(*os.File) file
}

// file is what a Journal needs of the segment it appends to.
type file interface {
	Write([]byte) (int, error)
	Sync() error
	Close() error
}

// segment is one segment file: the current one, open for appending, or an
// earlier one, known by name and first index only.
type segment struct {
	first uint64
	// The rest is for the current segment, guarded by Journal.mu.
	f       file
	size    int64 // bytes written, header included
	refs    int   // syncers fsyncing f outside the lock
	retired bool  // no longer current: close f when refs drops to 0
}

// Journal is an append-only log of call.Entry in segment files in one
// directory, with group commit (see the package documentation). It is safe
// for concurrent use. One Journal at a time may use a directory.
type Journal struct {
	dir  string
	opts Options

	mu     sync.Mutex // guards what follows, and every write to the segments
	segs   []*segment // ascending by first index; the last one is current
	last   uint64     // the index of the last entry appended
	snap   uint64     // the index the latest snapshot covers
	buf    []byte     // the record being written, reused
	failed error      // a write or fsync failed: every later call fails
	closed bool

	smu     sync.Mutex // guards the group commit's state
	scond   *sync.Cond // signalled when an fsync ends
	durable uint64     // every entry up to this index is durable
	syncing bool       // a syncer is fsyncing, outside smu
	waiting int        // callers waiting on scond

	snapMu sync.Mutex // serializes WriteSnapshot, LatestSnapshot, Compact
	ckMu   sync.Mutex // serializes Checkpoint

	appended atomic.Uint64 // last, readable without mu
	fsyncs   atomic.Uint64 // fsyncs of segment files, for tests and benchmarks
}

// Open opens the journal in dir, creating dir and a first segment if there
// are none. It checks every segment: a torn tail — a last record cut short,
// or with a bad checksum, in the last segment and with no valid record
// after it, which is what a crash leaves — is cut off (those entries were
// never reported durable); anything else damaged is refused with a
// *CorruptError naming the file and offset, and nothing is changed.
// Appending resumes after the last intact entry.
func Open(dir string, o Options) (*Journal, error) {
	if o.SegmentSize < 0 {
		return nil, fmt.Errorf("journal: SegmentSize %d: %w", o.SegmentSize, call.ErrInvalidOption)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	j := &Journal{dir: dir, opts: o}
	j.scond = sync.NewCond(&j.smu)
	for _, de := range des { // ReadDir sorts by name, so by index
		name := de.Name()
		if filepath.Ext(name) == tmpSuffix {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		if first, ok := parseName(name, segSuffix); ok {
			j.segs = append(j.segs, &segment{first: first})
		} else if idx, ok := parseName(name, snapSuffix); ok {
			j.snap = max(j.snap, idx)
		}
	}
	if len(j.segs) == 0 {
		if j.snap != 0 {
			return nil, &CorruptError{File: dir, Reason: fmt.Sprintf("a snapshot of entries 1..%d and no segment", j.snap)}
		}
		if err := j.startSegment(1); err != nil {
			return nil, err
		}
		j.durable = 0
		return j, nil
	}
	if first := j.segs[0].first; first == 0 || first > j.snap+1 {
		return nil, &CorruptError{File: j.path(j.segs[0].first), Reason: fmt.Sprintf("entries %d..%d are in no segment and no snapshot", j.snap+1, first-1)}
	}
	next := j.segs[0].first
	for i, s := range j.segs {
		if s.first != next {
			return nil, &CorruptError{File: j.path(s.first), Index: next, Reason: fmt.Sprintf("the segment before ends at entry %d", next-1)}
		}
		n, err := j.scan(s.first, i == len(j.segs)-1)
		if err != nil {
			return nil, err
		}
		next = s.first + n
	}
	j.last = next - 1
	if j.last < j.snap {
		return nil, &CorruptError{File: j.path(j.segs[len(j.segs)-1].first), Index: j.last + 1, Reason: fmt.Sprintf("the latest snapshot covers entries 1..%d, the segments end at %d", j.snap, j.last)}
	}
	cur := j.segs[len(j.segs)-1]
	f, err := os.OpenFile(j.path(cur.first), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	cur.f, cur.size = j.wrapFile(f), st.Size()
	j.durable = j.last // scan fsynced what it kept
	return j, nil
}

// scan checks the segment starting at first and returns how many entries it
// holds. In the last segment a torn tail is cut off and the file fsynced.
func (j *Journal) scan(first uint64, last bool) (uint64, error) {
	path := j.path(first)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	hf, err := readSegHeader(b)
	if err != nil {
		ce := &CorruptError{File: path, Reason: err.Error()}
		if errors.Is(err, ErrVersion) {
			ce.Err = ErrVersion
		}
		return 0, ce
	}
	if hf != first {
		return 0, &CorruptError{File: path, Reason: fmt.Sprintf("the header says the first entry is %d", hf)}
	}
	off, idx := segHeaderSize, first
	for off < len(b) {
		_, n, ok := parseRecord(b[off:], idx)
		if ok {
			off += n
			idx++
			continue
		}
		if !last {
			return 0, &CorruptError{File: path, Offset: int64(off), Index: idx, Reason: "a damaged record in a segment that is not the last"}
		}
		if at, ok := validAfter(b[off:], idx-1); ok {
			return 0, &CorruptError{File: path, Offset: int64(off), Index: idx, Reason: fmt.Sprintf("a damaged record followed by a valid one at offset %d", off+at)}
		}
		// A torn tail: written, never fsynced, cut short by a crash.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		err = f.Truncate(int64(off))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, err
		}
		break
	}
	return idx - first, nil
}

func (j *Journal) path(first uint64) string { return filepath.Join(j.dir, segmentName(first)) }

func (j *Journal) wrapFile(f *os.File) file {
	if j.opts.wrap != nil {
		return j.opts.wrap(f)
	}
	return f
}

// startSegment creates the segment whose first index is first and makes it
// current: its header is written to a temporary file, fsynced, renamed into
// place, and the directory fsynced, so that a segment file always has a
// whole header and survives a crash once its entries are fsynced. With mu
// held (or before the Journal is shared).
func (j *Journal) startSegment(first uint64) error {
	path := j.path(first)
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	h := appendSegHeader(nil, first)
	_, err = f.Write(h)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(j.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	// f was opened before the rename and now names the segment; it is
	// write-only and positioned after the header, as O_APPEND would be.
	j.segs = append(j.segs, &segment{first: first, f: j.wrapFile(f), size: int64(len(h))})
	return nil
}

// syncDir fsyncs a directory, making the names created or removed in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Append writes e as the next entry and returns once the record is with
// the operating system, not yet durable: it survives the process being
// killed, but not a power loss before Sync. It assigns e the index Last()+1
// (entries are numbered 1, 2, 3… for the life of the directory). It does
// not fsync, unless Options.SyncEachAppend is set. Appends are serialized;
// an error leaves the entry unwritten and its index unused.
//
// *Journal is a call.Journal.
func (j *Journal) Append(e call.Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usable(); err != nil {
		return err
	}
	idx := j.last + 1
	j.buf = appendRecord(j.buf[:0], idx, func(b []byte) []byte { return appendEntry(b, e) })
	if len(j.buf)-recHeaderSize > maxPayload {
		return fmt.Errorf("journal: entry %d: %d bytes: %w", idx, len(j.buf)-recHeaderSize, ErrTooLarge)
	}
	cur := j.segs[len(j.segs)-1]
	if cur.size > segHeaderSize && cur.size+int64(len(j.buf)) > j.opts.SegmentSize {
		if err := j.roll(idx); err != nil {
			return j.fail(err)
		}
		cur = j.segs[len(j.segs)-1]
	}
	n, err := cur.f.Write(j.buf)
	cur.size += int64(n)
	if err != nil {
		return j.fail(err) // a partial record at most: a torn tail for Open
	}
	j.last = idx
	j.appended.Store(idx)
	if j.opts.SyncEachAppend {
		err := cur.f.Sync()
		j.fsyncs.Add(1)
		if err != nil {
			return j.fail(err)
		}
		j.smu.Lock()
		j.durable = idx
		j.smu.Unlock()
	}
	return nil
}

// usable returns why the Journal cannot be used, or nil. With mu held.
func (j *Journal) usable() error {
	if j.closed {
		return ErrClosed
	}
	return j.failed
}

// fail records an I/O failure, after which the Journal refuses everything,
// and returns it. With mu held.
func (j *Journal) fail(err error) error {
	if j.failed == nil {
		j.failed = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return j.failed
}

// roll fsyncs the current segment, so that every entry in it is durable
// before any entry goes to the next, and starts the segment whose first
// index is first. With mu held.
func (j *Journal) roll(first uint64) error {
	cur := j.segs[len(j.segs)-1]
	err := cur.f.Sync()
	j.fsyncs.Add(1)
	if err != nil {
		return err
	}
	if err := j.startSegment(first); err != nil {
		return err
	}
	cur.retired = true
	if cur.refs == 0 {
		cur.f.Close() // fsynced above: an error here loses nothing
	}
	return nil
}

// Sync returns once every entry appended before it was called is durable
// (fsynced). Concurrent callers share fsyncs: the first one fsyncs for
// everything appended so far, and those arriving meanwhile wait for that
// fsync or the next one — so under load one fsync serves many entries.
// After a failed fsync every Sync returns the ErrFailed error.
func (j *Journal) Sync() error {
	j.mu.Lock()
	last, err := j.last, j.usable()
	j.mu.Unlock()
	if errors.Is(err, ErrClosed) {
		return err
	}
	return j.SyncTo(last)
}

// SyncTo returns once entries 1..index are durable; see Sync. An index
// past Last() is ErrRange.
func (j *Journal) SyncTo(index uint64) error {
	j.mu.Lock()
	last := j.last
	j.mu.Unlock()
	if index > last {
		return fmt.Errorf("journal: sync to entry %d, the last is %d: %w", index, last, ErrRange)
	}
	j.smu.Lock()
	defer j.smu.Unlock()
	for j.durable < index {
		if j.syncing {
			j.waiting++
			j.scond.Wait() // for the fsync under way, which may cover index
			j.waiting--
			continue
		}
		j.syncing = true
		others := j.waiting > 0
		j.smu.Unlock()
		if others {
			// Callers are waiting, and those the last fsync released are
			// about to append again: they would find this fsync already
			// started and wait for the next. While entries keep arriving,
			// yield to them, so that one fsync covers theirs too — at most
			// 64 times, ending at the first yield that sees no new entry.
			for range 64 {
				n := j.appended.Load()
				runtime.Gosched()
				if j.appended.Load() == n {
					break
				}
			}
		}
		upto, err := j.syncOnce()
		j.smu.Lock()
		j.syncing = false
		if err == nil {
			j.durable = max(j.durable, upto)
		}
		j.scond.Broadcast()
		if err != nil {
			return err
		}
	}
	return nil
}

// syncOnce fsyncs the current segment, outside mu so that appends go on
// meanwhile, and returns the index up to which everything is then durable:
// the last entry appended when it started (earlier segments were fsynced
// when they were rolled over).
func (j *Journal) syncOnce() (uint64, error) {
	j.mu.Lock()
	if err := j.usable(); err != nil {
		j.mu.Unlock()
		return 0, err
	}
	cur, upto := j.segs[len(j.segs)-1], j.last
	cur.refs++
	j.mu.Unlock()

	err := cur.f.Sync()
	j.fsyncs.Add(1)

	j.mu.Lock()
	defer j.mu.Unlock()
	cur.refs--
	if cur.retired && cur.refs == 0 {
		cur.f.Close()
	}
	if err != nil {
		return 0, j.fail(err)
	}
	return upto, nil
}

// Last returns the index of the last entry appended (0: none yet). Entries
// compacted away keep their indexes: numbering never restarts.
func (j *Journal) Last() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last
}

// Durable returns the index up to which every entry is known to be durable.
func (j *Journal) Durable() uint64 {
	j.smu.Lock()
	defer j.smu.Unlock()
	return j.durable
}

// Close makes every entry durable (Sync), then closes the segment file.
// Later calls return ErrClosed; Close again returns nil.
func (j *Journal) Close() error {
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return nil
	}
	err := j.Sync()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	cur := j.segs[len(j.segs)-1]
	cur.retired = true
	if cur.refs == 0 {
		if cerr := cur.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Replay calls fn with every entry after index after, in order, with its
// index, and returns fn's first error. It reads the entries that were
// appended when it was called. An after below the entries the Journal
// still holds (compacted away) or past Last() is ErrRange; an entry that
// does not decode is a *CorruptError.
func (j *Journal) Replay(after uint64, fn func(index uint64, e call.Entry) error) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	last := j.last
	firsts := make([]uint64, len(j.segs))
	for i, s := range j.segs {
		firsts[i] = s.first
	}
	j.mu.Unlock()
	if after+1 < firsts[0] || after > last {
		return fmt.Errorf("journal: entries after %d: the journal holds %d..%d: %w", after, firsts[0], last, ErrRange)
	}
	for i, first := range firsts {
		if i+1 < len(firsts) && firsts[i+1] <= after+1 {
			continue // every entry in it is at or before after
		}
		if first > last {
			break
		}
		path := j.path(first)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: entries after %d: %s was compacted meanwhile: %w", after, path, ErrRange)
		}
		if err != nil {
			return err
		}
		off := segHeaderSize
		for idx := first; idx <= last && (i+1 == len(firsts) || idx < firsts[i+1]); idx++ {
			p, n, ok := parseRecord(b[min(off, len(b)):], idx)
			if !ok {
				return &CorruptError{File: path, Offset: int64(off), Index: idx, Reason: "a damaged record"}
			}
			off += n
			if idx <= after {
				continue
			}
			e, err := decodeEntry(p)
			if err != nil {
				return &CorruptError{File: path, Offset: int64(off - n), Index: idx, Reason: "an entry that does not decode"}
			}
			if err := fn(idx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Entries returns the entries after index after, in order: with the
// snapshot LatestSnapshot returns, what call.Recover replays.
func (j *Journal) Entries(after uint64) ([]call.Entry, error) {
	var out []call.Entry
	err := j.Replay(after, func(_ uint64, e call.Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// segmentFirsts returns the first index of every segment, for tests.
func (j *Journal) segmentFirsts() []uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]uint64, len(j.segs))
	for i, s := range j.segs {
		out[i] = s.first
	}
	return slices.Clip(out)
}
