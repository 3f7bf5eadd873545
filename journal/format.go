package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// A segment file is a header followed by records, all integers little
// endian:
//
//	header (24 bytes): magic "CSJSEG\x00\x00" | version uint32 |
//	                   first index uint64 | CRC-32C of the 20 bytes before it
//	record:            length uint32 | CRC-32C uint32 | index uint64 |
//	                   payload (length bytes)
//
// The record's CRC-32C (Castagnoli) covers its length, its index and its
// payload, so a torn or flipped length, index or payload is caught. The
// records of a segment carry consecutive indexes starting at the header's
// first index, and a segment's first index is one past the last of the
// segment before it; a segment is named after its first index
// (segmentName), so that the directory lists them in order. The header is
// written to a temporary file, fsynced and renamed into place, so a
// segment file always has a whole header.
//
// A snapshot file is
//
//	magic "CSJSNAP\x00" | version uint32 | index uint64 | length uint64 |
//	CRC-32C of the data | CRC-32C of the 32 bytes before it | data
//
// named after the index it covers (snapshotName).

const (
	formatVersion = 1

	segMagic      = "CSJSEG\x00\x00"
	segHeaderSize = 8 + 4 + 8 + 4
	recHeaderSize = 4 + 4 + 8

	snapMagic      = "CSJSNAP\x00"
	snapHeaderSize = 8 + 4 + 8 + 8 + 4 + 4

	segSuffix  = ".seg"
	snapSuffix = ".snap"
	tmpSuffix  = ".tmp"

	// maxPayload bounds one record's payload: an Append of a bigger entry
	// is refused, and a length over it is never taken for a record.
	maxPayload = 1 << 26
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentName is the file name of the segment whose first index is first.
func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// snapshotName is the file name of the snapshot covering entries 1..index.
func snapshotName(index uint64) string { return fmt.Sprintf("%020d%s", index, snapSuffix) }

// parseName returns the index a segment or snapshot file name carries.
func parseName(name, suffix string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, suffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func appendSegHeader(b []byte, first uint64) []byte {
	b = append(b, segMagic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, first)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[len(b)-20:], castagnoli))
}

// readSegHeader checks a segment header and returns its first index; the
// error says what is wrong with it.
func readSegHeader(b []byte) (uint64, error) {
	if len(b) < segHeaderSize {
		return 0, fmt.Errorf("a header of %d bytes", len(b))
	}
	if string(b[:8]) != segMagic {
		return 0, fmt.Errorf("not a journal segment")
	}
	if crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:]) {
		return 0, fmt.Errorf("header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return 0, fmt.Errorf("%w: format version %d, this package reads %d", ErrVersion, v, formatVersion)
	}
	return binary.LittleEndian.Uint64(b[12:]), nil
}

// appendRecord appends the record of entry index to b: the header is
// reserved, the payload encoded after it, then the header filled in.
func appendRecord(b []byte, index uint64, payload func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, recHeaderSize)...)
	b = payload(b)
	n := len(b) - start - recHeaderSize
	binary.LittleEndian.PutUint32(b[start:], uint32(n))
	binary.LittleEndian.PutUint64(b[start+8:], index)
	binary.LittleEndian.PutUint32(b[start+4:], recordCRC(b[start:]))
	return b
}

// recordCRC is the checksum of the whole record r (its CRC field skipped).
func recordCRC(r []byte) uint32 {
	c := crc32.Update(0, castagnoli, r[:4])
	return crc32.Update(c, castagnoli, r[8:])
}

// parseRecord reads the record at the start of b. ok is false when b does
// not start with a whole record whose checksum matches and whose index is
// want; n is the record's size.
func parseRecord(b []byte, want uint64) (payload []byte, n int, ok bool) {
	if len(b) < recHeaderSize {
		return nil, 0, false
	}
	l := binary.LittleEndian.Uint32(b)
	if l > maxPayload || uint64(l) > uint64(len(b)-recHeaderSize) {
		return nil, 0, false
	}
	n = recHeaderSize + int(l)
	if binary.LittleEndian.Uint64(b[8:]) != want || recordCRC(b[:n]) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, false
	}
	return b[recHeaderSize:n], n, true
}

// validAfter reports whether a whole record with a matching checksum and an
// index after prev starts anywhere in b after its first byte: data that a
// crash cannot have left behind a torn write, so whatever is broken before
// it is corruption, not a torn tail. Only indexes the rest of b could hold
// (one record takes at least recHeaderSize bytes) are tried.
//
// b starts with the damaged record. When its length reaches the end of b or
// beyond, it is the last record, cut short or not yet fsynced, and what
// looks like a record inside it may be its payload — extended data, which
// the users choose — so such a candidate counts only if the damaged record
// ends right before it with a matching checksum (its length alone was
// damaged). A record cut short by a crash has nothing after it but its own
// bytes.
func validAfter(b []byte, prev uint64) (int, bool) {
	last := false
	if len(b) >= recHeaderSize {
		l := binary.LittleEndian.Uint32(b)
		last = l <= maxPayload && uint64(l) >= uint64(len(b)-recHeaderSize)
	}
	for off := 1; off+recHeaderSize <= len(b); off++ {
		idx := binary.LittleEndian.Uint64(b[off+8:])
		if idx <= prev || idx-prev > uint64(len(b)/recHeaderSize)+1 {
			continue
		}
		if _, _, ok := parseRecord(b[off:], idx); ok && (!last || endsAt(b, off, prev+1)) {
			return off, true
		}
	}
	return 0, false
}

// endsAt reports whether b starts with a whole record of index want, n
// bytes long, but for its length field.
func endsAt(b []byte, n int, want uint64) bool {
	if n < recHeaderSize || binary.LittleEndian.Uint64(b[8:]) != want {
		return false
	}
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(n-recHeaderSize))
	c := crc32.Update(crc32.Update(0, castagnoli, l[:]), castagnoli, b[8:n])
	return c == binary.LittleEndian.Uint32(b[4:])
}

func appendSnapHeader(b []byte, index uint64, data []byte) []byte {
	b = append(b, snapMagic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, index)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(data, castagnoli))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[len(b)-32:], castagnoli))
}

// readSnapshot checks a snapshot file's bytes and returns the index it
// covers and its data.
func readSnapshot(b []byte) (uint64, []byte, error) {
	if len(b) < snapHeaderSize || string(b[:8]) != snapMagic {
		return 0, nil, fmt.Errorf("not a journal snapshot")
	}
	if crc32.Checksum(b[:32], castagnoli) != binary.LittleEndian.Uint32(b[32:]) {
		return 0, nil, fmt.Errorf("header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return 0, nil, fmt.Errorf("%w: format version %d, this package reads %d", ErrVersion, v, formatVersion)
	}
	index := binary.LittleEndian.Uint64(b[12:])
	data := b[snapHeaderSize:]
	if binary.LittleEndian.Uint64(b[20:]) != uint64(len(data)) {
		return 0, nil, fmt.Errorf("%d bytes of data, the header says %d", len(data), binary.LittleEndian.Uint64(b[20:]))
	}
	if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return 0, nil, fmt.Errorf("data checksum mismatch")
	}
	return index, data, nil
}
