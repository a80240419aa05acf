//go:build linux

package gateway

import (
	"crypto/tls"
	"sync"
	"syscall"
)

// On Linux one process-wide epoll instance watches every relayed client connection for a
// hang-up (EPOLLRDHUP, EPOLLHUP, EPOLLERR), so that a stream needs no goroutine of its
// own on the client side. The goroutine that waits in epoll_wait is shared by all streams.
var hangups clientPoller

type clientPoller struct {
	once sync.Once
	epfd int
	ok   bool

	mu   sync.Mutex
	next uint64
	m    map[uint64]*relayStream
}

const epollET = 1 << 31 // syscall.EPOLLET is negative and does not convert to uint32

// watchHangup registers st's client connection. It returns false when it cannot (the
// caller then watches with a goroutine).
func watchHangup(st *relayStream) bool {
	p := &hangups
	p.once.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		p.epfd, p.ok, p.m = fd, true, map[uint64]*relayStream{}
		go p.loop()
	})
	if !p.ok {
		return false
	}
	c := st.client
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	p.mu.Lock()
	p.next++
	id := p.next
	p.m[id] = st
	p.mu.Unlock()
	var cerr error
	// Inside Control the descriptor cannot be closed (and its number reused) under us.
	err = rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | epollET, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		p.mu.Lock()
		delete(p.m, id)
		p.mu.Unlock()
		return false
	}
	st.hangupID = id
	return true
}

// forgetHangup drops st (its connection is closed, which removes it from the epoll set).
func forgetHangup(st *relayStream) {
	if st.hangupID == 0 {
		return
	}
	hangups.mu.Lock()
	delete(hangups.m, st.hangupID)
	hangups.mu.Unlock()
}

func (p *clientPoller) loop() {
	evs := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, evs, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for i := range n {
			id := uint64(uint32(evs[i].Fd)) | uint64(uint32(evs[i].Pad))<<32
			p.mu.Lock()
			st := p.m[id]
			delete(p.m, id)
			p.mu.Unlock()
			if st != nil {
				st.close("client closed the stream")
			}
		}
	}
}
