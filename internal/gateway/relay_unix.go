//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gateway

import "syscall"

const canWaitReadable = true

// waitReadable blocks until the connection has data (or EOF, or an error) without
// reading it and without a buffer: a MSG_PEEK probe of one byte, with the runtime
// poller waiting in between. Read deadlines apply (os.ErrDeadlineExceeded).
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
			if err == syscall.EINTR {
				continue
			}
			return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
		}
	})
}
