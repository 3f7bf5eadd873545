// Package durable is callsigd's -data: the journal a Registry appends to,
// with group commit, and its checkpoints (package journal). The daemon
// and the load generator set a durable server up with the same Store.
package durable

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/journal"
)

// checkpointPoll is how often Checkpoints looks whether a checkpoint is
// due (-checkpoint-entries).
const checkpointPoll = time.Second

// Store is the durable state of -data: the journal the Registry appends
// to, with group commit, and its checkpoints.
type Store struct {
	dir   string
	every uint64 // entries journaled since the last snapshot that make a checkpoint due
	log   *slog.Logger

	mu   sync.Mutex
	j    *journal.Journal
	reg  *call.Registry
	last uint64 // the index the latest snapshot covers
}

// New returns the Store of dir, which takes a checkpoint once every
// entries were journaled since the last one, and logs to log. Nothing is
// opened before NewRegistry.
func New(dir string, every uint64, log *slog.Logger) *Store {
	return &Store{dir: dir, every: every, log: log}
}

// NewRegistry is server.Config.NewRegistry: it recovers the Registry
// from the Store's directory (the latest snapshot, then the journal
// after it) and makes the journal its Options.Journal.
func (st *Store) NewRegistry(o call.Options) (*call.Registry, error) {
	reg, j, err := journal.Recover(st.dir, o)
	if err != nil {
		return nil, err
	}
	last, _, err := j.LatestSnapshot()
	if err != nil {
		j.Close()
		return nil, err
	}
	st.mu.Lock()
	st.j, st.reg, st.last = j, reg, last
	st.mu.Unlock()
	return reg, nil
}

// LogRecovered logs what the start recovered (after the first line,
// which says where the server serves).
func (st *Store) LogRecovered() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.log.Info("recovered", "data", st.dir, "entries", st.j.Last(), "snapshot", st.last,
		"online", len(st.reg.Online()), "calls", st.reg.Len())
}

// Checkpoint stores a snapshot and compacts the journal if force, or if
// the Store's every entries have been journaled since the last one.
func (st *Store) Checkpoint(force bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.j == nil || (!force && st.j.Last()-st.last < st.every) || st.j.Last() == st.last {
		return
	}
	index, err := st.j.Checkpoint(st.reg)
	if err != nil {
		st.log.Error("checkpoint failed", "err", err)
		return
	}
	st.last = index
	st.log.Debug("checkpoint", "index", index)
}

// Checkpoints runs Checkpoint every second until ctx ends.
func (st *Store) Checkpoints(ctx context.Context) {
	t := time.NewTicker(checkpointPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st.Checkpoint(false)
		}
	}
}

// Close takes a last checkpoint, so that the next start replays little,
// and closes the journal, which makes every entry durable first. The
// Registry's timers may still fire: the closed journal refuses their
// inputs, which the Registry leaves due for the next start.
func (st *Store) Close() error {
	st.Checkpoint(true)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.j == nil {
		return nil
	}
	return st.j.Close()
}
