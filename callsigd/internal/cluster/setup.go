package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/internal/server"
	"github.com/hashicorp/raft"
)

// Setup is a node as callsigd sets one up from its flags. The daemon and
// the load generator make their nodes with it (NewNode, then Configure).
type Setup struct {
	ID    string // -node
	Peers []Peer // -peers
	Data  string // -data: raft's stores go to Data/raft

	// Secret is -secret-file's key, from which the key of the internal
	// requests is derived; nil in dev mode (the key is then DevKey's,
	// made from Peers).
	Secret []byte

	// TLS is the server's TLS configuration (nil: plain HTTP); with it
	// the internal requests go over HTTPS.
	TLS *tls.Config

	// CheckpointEntries is -checkpoint-entries: raft's snapshot
	// threshold.
	CheckpointEntries uint64

	// Raft is raft's configuration, copied (nil: raft.DefaultConfig(),
	// logging its warnings to Log).
	Raft *raft.Config
	Log  io.Writer

	Transport raft.Transport // Config.Transport
	Wait      time.Duration  // Config.Wait
	Logger    *slog.Logger   // Config.Logger
}

// NewNode makes the cluster node of s: raft's stores under Data/raft,
// the internal requests between nodes signed with a key derived from
// Secret (in dev mode, from Peers), over HTTPS when the server serves it.
// srv returns the server once it exists, which releases the connections
// other nodes claim, and all of its connections when raft replaces the
// node's replica by a snapshot.
func NewNode(s Setup, srv func() *server.Server) (*Cluster, error) {
	key := DevKey("internal", s.Peers)
	if s.Secret != nil {
		m := hmac.New(sha256.New, s.Secret)
		m.Write([]byte("callsigd cluster: internal requests"))
		key = m.Sum(nil)
	}
	rc := raft.DefaultConfig()
	rc.LogLevel = "WARN"
	rc.LogOutput = s.Log
	if s.Raft != nil {
		c := *s.Raft
		rc = &c
	}
	rc.SnapshotThreshold = s.CheckpointEntries
	cfg := Config{
		ID: s.ID, Peers: s.Peers, Dir: filepath.Join(s.Data, "raft"), Key: key,
		Raft: rc, Transport: s.Transport, Wait: s.Wait, Logger: s.Logger,
		Release: func(ctx context.Context, user, device string, claim server.Stamp) server.Stamp {
			if sv := srv(); sv != nil {
				_, newer := sv.Release(ctx, user, device, claim)
				return newer
			}
			return server.Stamp{}
		},
		Restored: func() {
			if sv := srv(); sv != nil {
				sv.ReleaseAll()
			}
		},
	}
	if s.TLS != nil {
		// The other nodes' certificates are checked against the
		// system's roots and this node's own certificate (one
		// certificate for every node, or one CA's).
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		for _, c := range s.TLS.Certificates {
			if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
				roots.AddCert(leaf)
			}
		}
		cfg.Scheme = "https"
		cfg.Client = NewClient(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	}
	return New(cfg)
}

// Configure makes cfg the server of c: its Backend is c, opened with the
// server's Options; it is Shared, with c's claims, health check, read
// barrier and endpoints; and it keeps presence: a node that stops leaves
// its devices online in the cluster, as one that dies does, so that they
// have the heartbeat timeout to reconnect to another node.
func (c *Cluster) Configure(cfg *server.Config) {
	cfg.NewBackend = func(o call.Options) (server.Backend, error) {
		if err := c.Open(o); err != nil {
			return nil, err
		}
		return c, nil
	}
	cfg.Shared, cfg.Claim, cfg.Health, cfg.Routes = true, c.Claim, c.Health, c.Routes()
	cfg.Node = c.cfg.ID
	cfg.ReadBarrier = c.ReadBarrier
	cfg.KeepPresence = true
}

// DevKey is a key of dev mode in a cluster, for purpose: made from the
// peers, which every node is given alike (in any order), so that every
// node has it; anyone who knows -peers has it too, which dev mode allows
// (it mints tokens for anyone).
func DevKey(purpose string, peers []Peer) []byte {
	items := make([]string, len(peers))
	for i, p := range peers {
		items[i] = p.ID + "=" + p.Raft + "=" + p.HTTP
	}
	slices.Sort(items)
	sum := sha256.Sum256([]byte("callsigd dev cluster: " + purpose + "\n" + strings.Join(items, ",")))
	return sum[:]
}
