package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/callsig/callsig/callsigd/internal/cluster"
	"github.com/callsig/callsig/callsigd/internal/server"
	"github.com/hashicorp/raft"
)

// newCluster makes the cluster node of f (-node, -peers): raft's stores
// under -data/raft, the internal requests between nodes signed with a
// key derived from -secret-file's (secret; in dev mode, from -peers),
// over HTTPS when the server serves it. srv returns the server once it
// exists, which releases the connections other nodes claim.
func newCluster(f *flags, secret []byte, tlsConfig *tls.Config, logger *slog.Logger, stderr io.Writer,
	srv func() *server.Server) (*cluster.Cluster, error) {
	key := devKey("internal", f.peerList)
	if secret != nil {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("callsigd cluster: internal requests"))
		key = m.Sum(nil)
	}
	rc := raft.DefaultConfig()
	rc.LogLevel = "WARN"
	rc.LogOutput = stderr
	if f.raft != nil {
		c := *f.raft
		rc = &c
	}
	rc.SnapshotThreshold = f.checkpointEntries
	cfg := cluster.Config{
		ID: f.node, Peers: f.peerList, Dir: filepath.Join(f.data, "raft"), Key: key,
		Raft: rc, Transport: f.transport, Wait: f.wait, Logger: logger,
		Release: func(user, device string) bool {
			if s := srv(); s != nil {
				return s.Release(user, device)
			}
			return false
		},
	}
	if tlsConfig != nil {
		// The other nodes' certificates are checked against the
		// system's roots and this node's own certificate (one
		// certificate for every node, or one CA's).
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		for _, c := range tlsConfig.Certificates {
			if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
				roots.AddCert(leaf)
			}
		}
		cfg.Scheme = "https"
		cfg.Client = cluster.NewClient(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	}
	return cluster.New(cfg)
}

// devKey is a key of dev mode in a cluster, for purpose: made from the
// peers, which every node is given alike (in any order), so that every
// node has it; anyone who knows -peers has it too, which dev mode allows
// (it mints tokens for anyone).
func devKey(purpose string, peers []cluster.Peer) []byte {
	items := make([]string, len(peers))
	for i, p := range peers {
		items[i] = p.ID + "=" + p.Raft + "=" + p.HTTP
	}
	slices.Sort(items)
	sum := sha256.Sum256([]byte("callsigd dev cluster: " + purpose + "\n" + strings.Join(items, ",")))
	return sum[:]
}
