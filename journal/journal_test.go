package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// entry gives a realistic entry numbered i.
func entry(i int) call.Entry {
	return call.Entry{Op: call.OpInvite, At: t0.Add(time.Duration(i) * time.Millisecond), User: fmt.Sprintf("u%d", i),
		CallID: fmt.Sprintf("c%d", i), Users: []string{"bob", "carol"}, Timeout: 30 * time.Second, Data: "hello",
		Push: &events.Push{Title: "t"}, Admit: []string{"", "busy"}}
}

func mustOpen(t testing.TB, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return j
}

func appendAll(t testing.TB, j *Journal, es []call.Entry) {
	t.Helper()
	for _, e := range es {
		if err := j.Append(e); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
}

func entries(n int) []call.Entry {
	es := make([]call.Entry, n)
	for i := range es {
		es[i] = entry(i + 1)
	}
	return es
}

func checkEntries(t testing.TB, j *Journal, after uint64, want []call.Entry) {
	t.Helper()
	got, err := j.Entries(after)
	if err != nil {
		t.Fatalf("entries after %d: %v", after, err)
	}
	if len(got) != len(want) {
		t.Fatalf("entries after %d: %d entries, want %d", after, len(got), len(want))
	}
	for i := range got {
		if !sameEntry(got[i], want[i]) {
			t.Fatalf("entries after %d: #%d is %v, want %v", after, i, got[i], want[i])
		}
	}
}

// copyDir copies the files of src into a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReopenRoundTrip(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		o := Options{SegmentSize: int64(rapid.IntRange(1, 4096).Draw(rt, "segment size"))}
		es := rapid.SliceOfN(rapid.Custom(genEntry), 0, 30).Draw(rt, "entries")
		j := mustOpen(t, dir, o)
		appendAll(t, j, es)
		if err := j.Close(); err != nil {
			rt.Fatal(err)
		}
		j = mustOpen(t, dir, o)
		defer j.Close()
		if j.Last() != uint64(len(es)) || j.Durable() != j.Last() {
			rt.Fatalf("reopened: last %d durable %d, want %d", j.Last(), j.Durable(), len(es))
		}
		checkEntries(t, j, 0, es)
	})
}

// TestTornTailEveryOffset cuts the last record at every byte: Open keeps
// exactly the whole records, and appending goes on after them.
func TestTornTailEveryOffset(t *testing.T) {
	const n = 5
	src := t.TempDir()
	es := entries(n)
	j := mustOpen(t, src, Options{})
	appendAll(t, j, es[:n-1])
	seg := filepath.Join(src, segmentName(1))
	st, _ := os.Stat(seg)
	start := st.Size()
	appendAll(t, j, es[n-1:])
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(seg)
	end := st.Size()
	next := entry(99)
	for cut := start; cut <= end; cut++ {
		dir := copyDir(t, src)
		path := filepath.Join(dir, segmentName(1))
		if err := os.Truncate(path, cut); err != nil {
			t.Fatal(err)
		}
		keep := n - 1
		if cut == end {
			keep = n
		}
		j := mustOpen(t, dir, Options{})
		if j.Last() != uint64(keep) {
			t.Fatalf("cut at %d: last %d, want %d", cut, j.Last(), keep)
		}
		checkEntries(t, j, 0, es[:keep])
		if err := j.Append(next); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		j = mustOpen(t, dir, Options{})
		checkEntries(t, j, 0, append(slices.Clone(es[:keep]), next))
		j.Close()
	}
}

// recordSpans returns where each record of a segment file starts, and its
// end.
func recordSpans(t testing.TB, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := readSegHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	offs := []int{segHeaderSize}
	for idx, off := first, segHeaderSize; off < len(b); idx++ {
		_, n, ok := parseRecord(b[off:], idx)
		if !ok {
			t.Fatalf("%s: no record %d at %d", path, idx, off)
		}
		off += n
		offs = append(offs, off)
	}
	return offs
}

func flipByte(t testing.TB, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x41
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedLastRecordTrimmed: any byte of the last record flipped (a bad
// checksum, length or index) with nothing after it is a torn tail; so is
// garbage after the last record.
func TestDamagedLastRecordTrimmed(t *testing.T) {
	src := t.TempDir()
	es := entries(4)
	j := mustOpen(t, src, Options{})
	appendAll(t, j, es)
	j.Close()
	spans := recordSpans(t, filepath.Join(src, segmentName(1)))
	for off := spans[3]; off < spans[4]; off++ {
		dir := copyDir(t, src)
		flipByte(t, filepath.Join(dir, segmentName(1)), off)
		j := mustOpen(t, dir, Options{})
		checkEntries(t, j, 0, es[:3])
		j.Close()
	}
	for _, junk := range []string{"\x00", strings.Repeat("\x00", 100), "\xff\xff\xff\xff garbage"} {
		dir := copyDir(t, src)
		f, _ := os.OpenFile(filepath.Join(dir, segmentName(1)), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(junk)
		f.Close()
		j := mustOpen(t, dir, Options{})
		checkEntries(t, j, 0, es)
		j.Close()
	}
}

func wantCorrupt(t testing.TB, err error, file string, off int64) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want a *CorruptError", err)
	}
	if filepath.Base(ce.File) != file || (off >= 0 && ce.Offset != off) {
		t.Fatalf("got %v, want %s at offset %d", err, file, off)
	}
}

// TestCorruptionInTheMiddleRefused: a damaged record with a valid one after
// it is not a crash's doing, whichever byte is damaged; nor is a damaged
// record in a segment that is not the last, a missing segment or a bad
// header. Open refuses, naming the file and offset, and changes nothing.
func TestCorruptionInTheMiddleRefused(t *testing.T) {
	src := t.TempDir()
	es := entries(5)
	j := mustOpen(t, src, Options{})
	appendAll(t, j, es)
	j.Close()
	name := segmentName(1)
	spans := recordSpans(t, filepath.Join(src, name))
	for off := spans[1]; off < spans[2]; off++ { // the second record
		dir := copyDir(t, src)
		path := filepath.Join(dir, name)
		flipByte(t, path, off)
		before, _ := os.ReadFile(path)
		_, err := Open(dir, Options{})
		wantCorrupt(t, err, name, int64(spans[1]))
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Fatalf("flip at %d: Open changed the segment", off)
		}
	}
	// A torn record and then a whole one (the second record cut short).
	dir := copyDir(t, src)
	b, _ := os.ReadFile(filepath.Join(dir, name))
	b = append(b[:spans[1]+10:spans[1]+10], b[spans[2]:]...)
	os.WriteFile(filepath.Join(dir, name), b, 0o644)
	_, err := Open(dir, Options{})
	wantCorrupt(t, err, name, int64(spans[1]))

	// Three segments.
	src = t.TempDir()
	j = mustOpen(t, src, Options{SegmentSize: 300})
	appendAll(t, j, entries(12))
	j.Close()
	firsts := j.segmentFirsts()
	if len(firsts) < 3 {
		t.Fatalf("segments %v, want 3 or more", firsts)
	}
	// The last record of the first segment: nothing after it in its file.
	dir = copyDir(t, src)
	spans = recordSpans(t, filepath.Join(dir, segmentName(firsts[0])))
	flipByte(t, filepath.Join(dir, segmentName(firsts[0])), spans[len(spans)-2]+9)
	_, err = Open(dir, Options{})
	wantCorrupt(t, err, segmentName(firsts[0]), int64(spans[len(spans)-2]))
	// A segment cut short that is not the last.
	dir = copyDir(t, src)
	os.Truncate(filepath.Join(dir, segmentName(firsts[1])), int64(recordSpans(t, filepath.Join(dir, segmentName(firsts[1])))[1]+3))
	_, err = Open(dir, Options{})
	wantCorrupt(t, err, segmentName(firsts[1]), -1)
	// A missing segment in the middle, and a missing first one.
	for _, gone := range firsts[:2] {
		dir = copyDir(t, src)
		os.Remove(filepath.Join(dir, segmentName(gone)))
		_, err = Open(dir, Options{})
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("segment %d removed: %v, want a *CorruptError", gone, err)
		}
	}
	// A damaged header of the last segment.
	dir = copyDir(t, src)
	flipByte(t, filepath.Join(dir, segmentName(firsts[len(firsts)-1])), 13)
	_, err = Open(dir, Options{})
	wantCorrupt(t, err, segmentName(firsts[len(firsts)-1]), 0)
}

func TestUnknownVersionRefused(t *testing.T) {
	dir := t.TempDir()
	b := binary.LittleEndian.AppendUint32([]byte(segMagic), formatVersion+1)
	b = binary.LittleEndian.AppendUint64(b, 1)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	os.WriteFile(filepath.Join(dir, segmentName(1)), b, 0o644)
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrVersion) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrVersion and ErrCorrupt", err)
	}
}

func TestRolloverReplay(t *testing.T) {
	dir := t.TempDir()
	const size = 256
	es := entries(50)
	j := mustOpen(t, dir, Options{SegmentSize: size})
	appendAll(t, j, es)
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	firsts := j.segmentFirsts()
	if len(firsts) < 10 {
		t.Fatalf("segments %v: want many at %d bytes each", firsts, size)
	}
	for i, first := range firsts {
		st, err := os.Stat(filepath.Join(dir, segmentName(first)))
		if err != nil {
			t.Fatal(err)
		}
		spans := recordSpans(t, filepath.Join(dir, segmentName(first)))
		if st.Size() > size && len(spans) > 2 {
			t.Fatalf("segment %d: %d bytes, %d records", first, st.Size(), len(spans)-1)
		}
		if i > 0 && firsts[i-1]+uint64(len(recordSpans(t, filepath.Join(dir, segmentName(firsts[i-1]))))-1) != first {
			t.Fatalf("segment %d does not follow segment %d", first, firsts[i-1])
		}
	}
	j.Close()
	j = mustOpen(t, dir, Options{SegmentSize: size})
	defer j.Close()
	for after := range len(es) + 1 {
		checkEntries(t, j, uint64(after), es[after:])
	}
	var idxs []uint64
	j.Replay(47, func(i uint64, _ call.Entry) error { idxs = append(idxs, i); return nil })
	if !slices.Equal(idxs, []uint64{48, 49, 50}) {
		t.Fatalf("replay after 47 gave indexes %v", idxs)
	}
	stop := errors.New("stop")
	if err := j.Replay(0, func(uint64, call.Entry) error { return stop }); err != stop {
		t.Fatalf("replay returned %v, want fn's error", err)
	}
	if _, err := j.Entries(51); !errors.Is(err, ErrRange) {
		t.Fatalf("entries after 51 of 50: %v, want ErrRange", err)
	}
	appendAll(t, j, entries(51)[50:])
	checkEntries(t, j, 49, entries(51)[49:])
}

// syncLog records what a fakeFile was given: which entries (by User) were
// written, and which were written before an fsync that has returned.
type syncLog struct {
	mu      sync.Mutex
	written []string
	durable map[string]bool
	syncs   int
	writes  int
	delay   time.Duration // how long an fsync takes
	block   chan struct{} // if set, an fsync waits for a value on it
	failAt  int           // the write that fails (1-based; 0: none)
}

// fakeFile stands for a segment file: writes go to the file, fsyncs are
// only recorded (and take delay).
type fakeFile struct {
	f   *os.File
	log *syncLog
}

func (l *syncLog) wrap(f *os.File) file { return &fakeFile{f: f, log: l} }

func (w *fakeFile) Write(p []byte) (int, error) {
	l := w.log
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	if l.writes == l.failAt {
		n, _ := w.f.Write(p[:len(p)/2])
		return n, errors.New("disk full")
	}
	e, err := decodeEntry(p[recHeaderSize:]) // one record per Write
	if err != nil {
		return 0, fmt.Errorf("fake: a write that is not one record: %v", err)
	}
	l.written = append(l.written, e.User)
	return w.f.Write(p)
}

func (w *fakeFile) Sync() error {
	l := w.log
	l.mu.Lock()
	covered := len(l.written) // what this fsync makes durable: what was written before it
	l.mu.Unlock()
	if l.block != nil {
		<-l.block
	}
	time.Sleep(l.delay)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncs++
	if l.durable == nil {
		l.durable = map[string]bool{}
	}
	for _, u := range l.written[:covered] {
		l.durable[u] = true
	}
	return nil
}

func (w *fakeFile) Close() error { return w.f.Close() }

func (l *syncLog) isDurable(u string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable[u]
}

// TestGroupCommit: 16 goroutines each Append then Sync; every Sync returns
// only after an fsync that began after its entry was written, and the
// fsyncs are far fewer than the appends.
func TestGroupCommit(t *testing.T) {
	const goroutines, each = 16, 50
	log := &syncLog{delay: time.Millisecond}
	j := mustOpen(t, t.TempDir(), Options{wrap: log.wrap})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				u := fmt.Sprintf("g%d-%d", g, i)
				if err := j.Append(call.Entry{Op: call.OpHeartbeat, At: t0, User: u}); err != nil {
					t.Error(err)
					return
				}
				if err := j.Sync(); err != nil {
					t.Error(err)
					return
				}
				if !log.isDurable(u) {
					t.Errorf("Sync returned before %s was fsynced", u)
					return
				}
			}
		})
	}
	wg.Wait()
	appends := goroutines * each
	t.Logf("%d appends, %d fsyncs", appends, log.syncs)
	if log.syncs*4 > appends {
		t.Fatalf("%d fsyncs for %d appends: want at most a quarter", log.syncs, appends)
	}
	if j.Durable() != uint64(appends) {
		t.Fatalf("durable %d, want %d", j.Durable(), appends)
	}
	j.Close()
}

// TestSyncWaitsForFsync: Sync blocks while the fsync that covers its entry
// has not returned; a Sync arriving during an fsync that does not cover its
// entry waits for the next one.
func TestSyncWaitsForFsync(t *testing.T) {
	log := &syncLog{block: make(chan struct{})}
	j := mustOpen(t, t.TempDir(), Options{wrap: log.wrap})
	appendAll(t, j, []call.Entry{{User: "a"}})
	first := make(chan error)
	go func() { first <- j.Sync() }()
	waitFor(t, func() bool { j.smu.Lock(); defer j.smu.Unlock(); return j.syncing })
	appendAll(t, j, []call.Entry{{User: "b"}})
	second := make(chan error)
	go func() { second <- j.Sync() }()
	select {
	case err := <-first:
		t.Fatalf("Sync returned (%v) before its fsync did", err)
	case err := <-second:
		t.Fatalf("Sync returned (%v) before its fsync did", err)
	case <-time.After(20 * time.Millisecond):
	}
	log.block <- struct{}{} // the first fsync, which covers a only
	if err := <-first; err != nil || !log.isDurable("a") {
		t.Fatalf("first Sync: %v, a durable: %v", err, log.isDurable("a"))
	}
	select {
	case err := <-second:
		t.Fatalf("Sync of b returned (%v) after an fsync that began before b was written", err)
	case <-time.After(20 * time.Millisecond):
	}
	log.block <- struct{}{}
	if err := <-second; err != nil || !log.isDurable("b") {
		t.Fatalf("second Sync: %v, b durable: %v", err, log.isDurable("b"))
	}
	if log.syncs != 2 {
		t.Fatalf("%d fsyncs, want 2", log.syncs)
	}
	close(log.block)
	j.Close()
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("timed out")
}

func TestSyncEachAppend(t *testing.T) {
	log := &syncLog{}
	j := mustOpen(t, t.TempDir(), Options{SyncEachAppend: true, wrap: log.wrap})
	for i := range 10 {
		u := fmt.Sprint(i)
		appendAll(t, j, []call.Entry{{User: u}})
		if !log.isDurable(u) || j.Durable() != uint64(i+1) {
			t.Fatalf("Append returned before %s was fsynced", u)
		}
	}
	if err := j.Sync(); err != nil || log.syncs != 10 {
		t.Fatalf("sync: %v; %d fsyncs, want 10", err, log.syncs)
	}
	j.Close()
}

// TestFailedWriteIsSticky: after a failed write the Journal refuses every
// call; reopening trims the partial record and appending goes on.
func TestFailedWriteIsSticky(t *testing.T) {
	dir := t.TempDir()
	log := &syncLog{failAt: 3}
	j := mustOpen(t, dir, Options{wrap: log.wrap})
	es := entries(3)
	appendAll(t, j, es[:2])
	if err := j.Append(es[2]); !errors.Is(err, ErrFailed) {
		t.Fatalf("append on a full disk: %v, want ErrFailed", err)
	}
	if err := j.Append(es[2]); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after a failure: %v, want ErrFailed", err)
	}
	if err := j.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("sync after a failure: %v, want ErrFailed", err)
	}
	j.Close()
	j = mustOpen(t, dir, Options{})
	checkEntries(t, j, 0, es[:2])
	appendAll(t, j, es[2:])
	checkEntries(t, j, 0, es)
	j.Close()
	if err := j.Append(es[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
}

func TestSnapshotCompact(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 300}
	es := entries(40)
	j := mustOpen(t, dir, o)
	if idx, data, err := j.LatestSnapshot(); idx != 0 || data != nil || err != nil {
		t.Fatalf("no snapshot yet: %d, %q, %v", idx, data, err)
	}
	appendAll(t, j, es)
	if err := j.Compact(1); !errors.Is(err, ErrRange) {
		t.Fatalf("compact with no snapshot: %v, want ErrRange", err)
	}
	if err := j.WriteSnapshot(41, nil); !errors.Is(err, ErrRange) {
		t.Fatalf("snapshot past the last entry: %v, want ErrRange", err)
	}
	if err := j.WriteSnapshot(25, []byte("s25")); err != nil {
		t.Fatal(err)
	}
	if j.Durable() < 25 {
		t.Fatalf("a snapshot of 1..25 with entries durable up to %d only", j.Durable())
	}
	if err := j.WriteSnapshot(20, []byte("s20")); !errors.Is(err, ErrRange) {
		t.Fatalf("a snapshot older than the latest: %v, want ErrRange", err)
	}
	if err := j.Compact(30); !errors.Is(err, ErrRange) {
		t.Fatalf("compact past the snapshot: %v, want ErrRange", err)
	}
	before := j.segmentFirsts()
	if err := j.Compact(25); err != nil {
		t.Fatal(err)
	}
	after := j.segmentFirsts()
	if after[0] > 26 || len(after) > 1 && after[1] <= 26 || len(after) >= len(before) {
		t.Fatalf("segments %v compacted to 25 gave %v", before, after)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(files) != len(after) {
		t.Fatalf("%d segment files, %d segments", len(files), len(after))
	}
	if _, err := j.Entries(after[0] - 2); !errors.Is(err, ErrRange) {
		t.Fatalf("entries compacted away: %v, want ErrRange", err)
	}
	checkEntries(t, j, 25, es[25:])
	j.Close()

	j = mustOpen(t, dir, o)
	idx, data, err := j.LatestSnapshot()
	if idx != 25 || string(data) != "s25" || err != nil {
		t.Fatalf("latest snapshot: %d, %q, %v", idx, data, err)
	}
	checkEntries(t, j, idx, es[25:])
	// A snapshot of everything: the current segment stays, numbering goes on.
	if err := j.WriteSnapshot(40, []byte("s40")); err != nil {
		t.Fatal(err)
	}
	if err := j.Compact(40); err != nil {
		t.Fatal(err)
	}
	if len(j.segmentFirsts()) != 1 {
		t.Fatalf("segments %v after compacting everything", j.segmentFirsts())
	}
	if snaps, _ := filepath.Glob(filepath.Join(dir, "*"+snapSuffix)); len(snaps) != 1 {
		t.Fatalf("snapshot files %v, want the latest only", snaps)
	}
	j.Close()
	j = mustOpen(t, dir, o)
	checkEntries(t, j, 40, nil)
	more := entries(42)[40:]
	appendAll(t, j, more)
	if j.Last() != 42 {
		t.Fatalf("last %d, want 42", j.Last())
	}
	checkEntries(t, j, 40, more)
	j.Close()
}

// TestCompactRacesAppend: goroutines append and sync under a "registry"
// lock while another snapshots under that lock and compacts; afterwards
// the latest snapshot and the entries after it are exactly what was
// appended.
func TestCompactRacesAppend(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 512}
	j := mustOpen(t, dir, o)
	var (
		regMu sync.Mutex // the Registry's lock: orders appends and snapshots
		state []string   // the Registry's state: users of the entries applied
	)
	const goroutines, each = 8, 100
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				u := fmt.Sprintf("g%d-%d", g, i)
				regMu.Lock()
				err := j.Append(call.Entry{Op: call.OpHeartbeat, At: t0, User: u})
				if err == nil {
					state = append(state, u)
				}
				regMu.Unlock()
				if err == nil {
					err = j.Sync()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	compactions := 0
	go func() {
		defer close(done)
		for {
			regMu.Lock()
			idx, snap := uint64(len(state)), strings.Join(state, ",")
			regMu.Unlock()
			if err := j.WriteSnapshot(idx, []byte(snap)); err != nil {
				t.Error(err)
				return
			}
			if err := j.Compact(idx); err != nil {
				t.Error(err)
				return
			}
			compactions++
			if idx == goroutines*each {
				return
			}
		}
	}()
	wg.Wait()
	<-done
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d compactions", compactions)
	j = mustOpen(t, dir, o)
	defer j.Close()
	if firsts := j.segmentFirsts(); len(firsts) != 1 {
		t.Fatalf("segments %v left after compacting to the last entry", firsts)
	}
	idx, data, err := j.LatestSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(string(data), ",")
	err = j.Replay(idx, func(_ uint64, e call.Entry) error {
		got = append(got, e.User)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, state) {
		t.Fatalf("recovered %d entries, appended %d", len(got), len(state))
	}
}

// FuzzOpen: Open, Replay and Append on a segment of arbitrary bytes never
// panic; what Open accepts replays and takes a new entry.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	j := mustOpen(f, dir, Options{})
	appendAll(f, j, entries(3))
	j.Close()
	valid, _ := os.ReadFile(filepath.Join(dir, segmentName(1)))
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(valid[:segHeaderSize])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Open(dir, Options{})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
			return
		}
		defer j.Close()
		n := j.Last()
		_ = j.Replay(0, func(uint64, call.Entry) error { return nil })
		if err := j.Append(entry(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := j.Entries(n); err != nil {
			t.Fatalf("entries after %d: %v", n, err)
		}
	})
}
