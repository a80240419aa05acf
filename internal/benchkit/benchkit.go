// Package benchkit holds what the measuring commands (cmd/loadtest, cmd/footprint) share:
// opening an idle SSE stream as a client would, and raising the open-file limit for many
// of them. Nothing here is part of mcpgate itself.
package benchkit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// OpenStream opens a standalone SSE stream (GET path on addr, with token as bearer when
// not empty) over a raw connection and returns it once the server's ": stream open"
// comment has arrived, with no deadline left on it.
func OpenStream(addr, path, token string) (net.Conn, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	req += "\r\n"
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	st, err := br.ReadString('\n')
	if err != nil || !strings.Contains(st, " 200 ") {
		c.Close()
		return nil, fmt.Errorf("stream not opened: %q %v", st, err)
	}
	for { // headers, then the upstream's first comment
		l, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if strings.Contains(l, ": stream open") {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// RaiseFDLimit raises the soft open-file limit to the hard one.
func RaiseFDLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
