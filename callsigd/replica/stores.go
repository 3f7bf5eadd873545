package replica

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Stores are a node's raft stores on disk: the log and raft's stable
// values in one bolt file (raft-boltdb), snapshots in raft's file snapshot
// store.
type Stores struct {
	Bolt      *raftboltdb.BoltStore // Logs and Stable
	Snapshots *raft.FileSnapshotStore
}

// OpenStores opens (creating them if need be) the stores under dir:
// dir/raft.db and dir/snapshots, keeping the two latest snapshots. logs,
// when not nil, gets the snapshot store's log lines.
func OpenStores(dir string, logs io.Writer) (*Stores, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("replica: stores: %w", err)
	}
	b, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		return nil, fmt.Errorf("replica: stores: %w", err)
	}
	if logs == nil {
		logs = io.Discard
	}
	s, err := raft.NewFileSnapshotStore(dir, 2, logs)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("replica: stores: %w", err)
	}
	return &Stores{Bolt: b, Snapshots: s}, nil
}

// Configure sets cfg's Logs, Stable and Snapshots to s.
func (s *Stores) Configure(cfg *Config) {
	cfg.Logs, cfg.Stable, cfg.Snapshots = s.Bolt, s.Bolt, s.Snapshots
}

// Close closes the bolt file; the node using it must be closed first.
func (s *Stores) Close() error { return s.Bolt.Close() }
