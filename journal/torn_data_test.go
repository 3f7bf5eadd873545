package journal_test

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/journal"
)

// TestTornTailWithRecordsInData: an entry's extended data is the users',
// and may hold bytes that read as whole records of the next indexes (the
// record format is public: length, CRC-32C, index). A crash that tears
// that entry's record after those bytes leaves a torn tail all the same,
// and Open must cut it off, keeping the entries before it, at every cut:
// what a user typed must not make the journal unrecoverable. So for a
// record written in full but not fsynced, whose end a crash left as zeros.
func TestTornTailWithRecordsInData(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	r, err := call.NewRegistry(call.Options{Clock: clk, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Login("mallory", ""); err != nil {
		t.Fatal(err)
	}
	kept := r.JournalIndex()
	seg := filepath.Join(dir, "00000000000000000001.seg")
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	start := st.Size()
	// Empty records for the next indexes: length 0, CRC-32C of the
	// length and the index, the index.
	var data []byte
	cast := crc32.MakeTable(crc32.Castagnoli)
	for idx := kept + 1; idx <= kept+4; idx++ {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint64(rec[8:], idx)
		binary.LittleEndian.PutUint32(rec[4:], crc32.Update(crc32.Update(0, cast, rec[:4]), cast, rec[8:]))
		data = append(data, rec...)
	}
	if _, err := r.Invite("mallory", []string{"bob"}, call.InviteConfig{ExtendedData: string(data) + strings.Repeat("!", 40)}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 * (int64(len(b)) - start) {
		cut, zeroed := start+i/2, i%2 == 1
		d := copyTree(t, dir)
		torn := b[:cut]
		if zeroed {
			torn = append(b[:cut:cut], make([]byte, int64(len(b))-cut)...)
			if string(torn) == string(b) {
				continue // the record ends in zeros: nothing torn
			}
		}
		if err := os.WriteFile(filepath.Join(d, filepath.Base(seg)), torn, 0o644); err != nil {
			t.Fatal(err)
		}
		got, gj, err := journal.Recover(d, call.Options{Clock: clock.NewManual(clk.Now()), Sink: events.Discard})
		if err != nil {
			t.Fatalf("the invite's record torn at byte %d of %d (the rest zeroed: %v): %v", cut-start, int64(len(b))-start, zeroed, err)
		}
		if got.JournalIndex() != kept || len(got.Devices("mallory")) != 1 || got.Len() != 0 {
			t.Fatalf("torn at byte %d: index %d, mallory's devices %q, %d calls; want %d, [\"\"], 0", cut-start, got.JournalIndex(), got.Devices("mallory"), got.Len(), kept)
		}
		gj.Close()
	}
}

// copyTree copies the files of directory src into a new directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}
