package cluster

import (
	"fmt"
	"net"
	"strings"
)

// Peer is one node of a cluster as -peers names it: its ID, the address
// its raft transport listens on, and the address of its HTTP server (its
// clients' WebSockets, and the internal endpoints the other nodes call).
type Peer struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	HTTP string `json:"http"`
}

// ParsePeers parses -peers: "ID=RAFT=HTTP,..." where RAFT and HTTP are
// HOST:PORT with a port. IDs must be unique, and so must addresses, raft
// and HTTP ones together. Spaces around an item are ignored.
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	ids, addrs := map[string]bool{}, map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, "=")
		if len(parts) != 3 {
			return nil, fmt.Errorf("-peers: %q is not ID=RAFT=HTTP", item)
		}
		p := Peer{ID: parts[0], Raft: parts[1], HTTP: parts[2]}
		if p.ID == "" || strings.ContainsAny(p.ID, " \t") {
			return nil, fmt.Errorf("-peers: %q: the ID must be a word", item)
		}
		for _, a := range []struct{ what, addr string }{{"raft", p.Raft}, {"HTTP", p.HTTP}} {
			host, port, err := net.SplitHostPort(a.addr)
			if err != nil || host == "" || port == "" || port == "0" {
				return nil, fmt.Errorf("-peers: %q: the %s address %q is not HOST:PORT", item, a.what, a.addr)
			}
		}
		switch {
		case ids[p.ID]:
			return nil, fmt.Errorf("-peers: the ID %q comes twice", p.ID)
		case addrs[p.Raft] || p.Raft == p.HTTP:
			return nil, fmt.Errorf("-peers: the address %q comes twice", p.Raft)
		case addrs[p.HTTP]:
			return nil, fmt.Errorf("-peers: the address %q comes twice", p.HTTP)
		}
		ids[p.ID], addrs[p.Raft], addrs[p.HTTP] = true, true, true
		peers = append(peers, p)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("-peers: no node")
	}
	return peers, nil
}
