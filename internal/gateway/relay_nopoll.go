//go:build !linux

package gateway

// Without epoll, each relayed stream watches its client with a goroutine (watchClient).
func watchHangup(*relayStream) bool { return false }
func forgetHangup(*relayStream)     {}
