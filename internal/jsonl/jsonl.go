// Package jsonl is a call.Journal on a file: one JSON line per entry,
// appended and fsynced before Append returns, so that an entry a Registry
// has been told is durable survives a crash (D1). The examples and the crash
// test use it; a host with a database or a log service writes its own in the
// same few lines.
package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/callsig/callsig/call"
)

// Journal appends entries to a file. It is safe for concurrent use.
type Journal struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

// Open opens (or creates) the journal file at path for appending.
func Open(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Journal{f: f}, nil
}

// Append writes e as one line and syncs the file.
func (j *Journal) Append(e call.Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(append(j.buf[:0], b...), '\n')
	if _, err := j.f.Write(j.buf); err != nil {
		return err
	}
	return j.f.Sync()
}

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }

// Read returns the entries of the journal file at path, oldest first. A
// last line without its newline is a write that a crash cut short: it was
// never acknowledged, so it is dropped. A missing file is an empty journal.
func Read(path string) ([]call.Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []call.Entry
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return out, nil // a torn tail, or none
		}
		if err != nil {
			return nil, err
		}
		var e call.Entry
		d := json.NewDecoder(bytes.NewReader(line))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, e)
	}
}

// WriteFileAtomic writes data to path so that a crash leaves either the old
// file or the new one, never a mix: a temporary file, fsynced, renamed over
// path, and the directory fsynced.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
