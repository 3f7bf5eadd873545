package replica_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// faultNet is the network of a fault test: real TCP over 127.0.0.1, with
// raft's own NetworkTransport on top (each node's raft.StreamLayer is a
// layer). A connection opens with the dialer's node ID, so that the
// network knows both ends of every connection and can fail them:
//
//   - A partition puts nodes on sides. A connection across sides goes
//     silent: what either end writes is dropped and nothing arrives, until
//     raft's I/O deadlines give up on it; a dial across sides fails at
//     once (the host is unreachable). When the sides meet again, every
//     connection that went silent is reset (its stream lost bytes), and
//     new dials succeed.
//   - A kill is a crash of one process: its listener and every connection
//     it holds close at once, as the kernel closes a killed process's
//     sockets (its peers read EOF), and it dials no more. Nothing it does
//     afterwards reaches anyone.
type faultNet struct {
	mu    sync.Mutex
	ids   map[raft.ServerAddress]string // listening address → node ID
	side  map[string]int                // node ID → its side; absent: side 0
	links map[*link]struct{}            // every open connection end
}

func newFaultNet() *faultNet {
	return &faultNet{ids: map[raft.ServerAddress]string{}, side: map[string]int{}, links: map[*link]struct{}{}}
}

// errUnreachable is a dial across a partition, or from a killed process.
var errUnreachable = errors.New("faultnet: unreachable")

// together reports whether nodes a and b are on the same side; nw.mu held.
func (nw *faultNet) together(a, b string) bool { return nw.side[a] == nw.side[b] }

// partition puts each node of sides on its side (absent: side 0); an
// empty map heals the network. Connections that cross sides go silent;
// connections that went silent and whose ends meet again are reset.
func (nw *faultNet) partition(sides map[string]int) {
	nw.mu.Lock()
	nw.side = map[string]int{}
	for id, s := range sides {
		nw.side[id] = s
	}
	var reset []*link
	for k := range nw.links {
		switch {
		case !nw.together(k.local.id, k.remote):
			k.silent.Store(true)
		case k.silent.Load():
			reset = append(reset, k)
		}
	}
	nw.mu.Unlock()
	for _, k := range reset {
		_ = k.Close()
	}
}

// open keeps c as local's end of a connection to remote, or closes it
// when local is dead or remote is across a partition.
func (nw *faultNet) open(local *layer, remote string, c net.Conn) (*link, bool) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if local.dead.Load() || !nw.together(local.id, remote) {
		_ = c.Close()
		return nil, false
	}
	k := &link{Conn: c, nw: nw, local: local, remote: remote}
	nw.links[k] = struct{}{}
	return k, true
}

// link is one end of a connection.
type link struct {
	net.Conn
	nw     *faultNet
	local  *layer // this end's process
	remote string // the other end's node ID
	silent atomic.Bool
}

// Read reads what the other end wrote, but drops it while the connection
// is silent.
func (k *link) Read(p []byte) (int, error) {
	for {
		n, err := k.Conn.Read(p)
		if !k.silent.Load() || err != nil {
			return n, err
		}
	}
}

// Write writes p, or drops it while the connection is silent.
func (k *link) Write(p []byte) (int, error) {
	if k.silent.Load() {
		return len(p), nil
	}
	return k.Conn.Write(p)
}

// Close closes this end and forgets it.
func (k *link) Close() error {
	k.nw.mu.Lock()
	delete(k.nw.links, k)
	k.nw.mu.Unlock()
	return k.Conn.Close()
}

// layer is one process's raft.StreamLayer on a faultNet.
type layer struct {
	nw    *faultNet
	id    string
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	dead  atomic.Bool
}

// listen starts node id's layer at addr ("127.0.0.1:0": any port).
func (nw *faultNet) listen(id, addr string) (*layer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &layer{nw: nw, id: id, ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	nw.mu.Lock()
	nw.ids[raft.ServerAddress(ln.Addr().String())] = id
	nw.mu.Unlock()
	go l.serve()
	return l, nil
}

// serve accepts connections and reads each one's first line, the
// dialer's ID, on a goroutine of its own.
func (l *layer) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.handshake(c)
	}
}

func (l *layer) handshake(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		_ = c.Close()
		return
	}
	id := make([]byte, n[0])
	if _, err := io.ReadFull(c, id); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	k, ok := l.nw.open(l, string(id), c)
	if !ok {
		return
	}
	select {
	case l.conns <- k:
	case <-l.done:
		_ = k.Close()
	}
}

// Accept returns the next connection (net.Listener).
func (l *layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops listening (net.Listener); NetworkTransport.Close calls it.
func (l *layer) Close() error {
	l.once.Do(func() {
		close(l.done)
		_ = l.ln.Close()
	})
	return nil
}

// Addr is the listening address (net.Listener).
func (l *layer) Addr() net.Addr { return l.ln.Addr() }

// Dial opens a connection to the node at addr (raft.StreamLayer).
func (l *layer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.dead.Load() {
		return nil, errUnreachable
	}
	l.nw.mu.Lock()
	remote, known := l.nw.ids[addr]
	reachable := known && l.nw.together(l.id, remote)
	l.nw.mu.Unlock()
	if !reachable {
		return nil, fmt.Errorf("dial %s: %w", addr, errUnreachable)
	}
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(append([]byte{byte(len(l.id))}, l.id...)); err != nil {
		_ = c.Close()
		return nil, err
	}
	k, ok := l.nw.open(l, remote, c)
	if !ok {
		return nil, fmt.Errorf("dial %s: %w", addr, errUnreachable)
	}
	return k, nil
}

// kill is the process's crash on the network: its listener and every
// connection it holds close at once, and it dials no more.
func (l *layer) kill() {
	l.dead.Store(true)
	_ = l.Close()
	l.nw.mu.Lock()
	var mine []*link
	for k := range l.nw.links {
		if k.local == l {
			mine = append(mine, k)
		}
	}
	l.nw.mu.Unlock()
	for _, k := range mine {
		_ = k.Close()
	}
}
