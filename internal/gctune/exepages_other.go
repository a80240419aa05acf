//go:build !linux

package gctune

// ReleaseExecutablePages does nothing outside Linux.
func ReleaseExecutablePages() (uint64, error) { return 0, nil }
