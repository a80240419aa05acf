//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gateway

import "syscall"

// canWaitReadable is false here: streams stay on the normal net/http path.
const canWaitReadable = false

func waitReadable(syscall.RawConn) error { return nil }
