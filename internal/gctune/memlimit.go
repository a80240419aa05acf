package gctune

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// MemoryLimit says where the runtime's soft memory limit (GOMEMLIMIT semantics) comes from.
type MemoryLimit struct {
	// Bytes is the limit in effect; 0 when there is none.
	Bytes int64
	// Source is "GOMEMLIMIT" (the environment variable), "cgroup" (set by SetMemoryLimit
	// from the container's limit) or "" (no limit).
	Source string
	// Cgroup is the container's memory limit that was found, 0 when none was.
	Cgroup int64
}

// limitTenths is the part of the container's limit, in tenths, that SetMemoryLimit gives the Go
// runtime: the rest is for what the runtime does not count (thread stacks outside the
// heap, the binary's mapped pages, the page cache charged to the container) and leaves
// room for the collector to act before the kernel's OOM killer does.
const limitTenths = 9

// SetMemoryLimit gives the Go runtime a soft memory limit from the container's memory limit
// (cgroup v2 memory.max, or v1 memory.limit_in_bytes) when the GOMEMLIMIT environment
// variable is not set: 90% of it. Near the limit the runtime collects more often instead of
// letting the kernel kill the process. When GOMEMLIMIT is set (GOMEMLIMIT=off included) the
// operator has chosen and nothing is changed.
func SetMemoryLimit() MemoryLimit {
	return setMemoryLimit("/", os.LookupEnv)
}

func setMemoryLimit(root string, lookup func(string) (string, bool)) MemoryLimit {
	cg, _ := cgroupLimit(root)
	if _, ok := lookup("GOMEMLIMIT"); ok {
		return MemoryLimit{Bytes: currentLimit(), Source: "GOMEMLIMIT", Cgroup: cg}
	}
	if cg <= 0 {
		return MemoryLimit{}
	}
	l := cg / 10 * limitTenths
	debug.SetMemoryLimit(l)
	return MemoryLimit{Bytes: l, Source: "cgroup", Cgroup: cg}
}

// currentLimit is the runtime's soft memory limit, 0 when there is none.
func currentLimit() int64 {
	l := debug.SetMemoryLimit(-1)
	if l == math.MaxInt64 {
		return 0
	}
	return l
}

// unlimited is the smallest value a cgroup v1 file holds for "no limit" (the kernel writes
// the largest page-aligned int64, 9223372036854771712).
const unlimited = 1 << 62

// cgroupLimit is the memory limit of this process's cgroup under root (the file system
// root; tests pass a directory): cgroup v2 memory.max or v1 memory.limit_in_bytes, 0 when
// there is none. A container usually sees its own cgroup as "/" (cgroup namespace); on a
// host the path from /proc/self/cgroup is followed.
func cgroupLimit(root string) (int64, error) {
	f, err := os.Open(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	var candidates []string
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || strings.Contains(parts[2], "..") {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			candidates = append(candidates,
				filepath.Join(root, "sys/fs/cgroup", parts[2], "memory.max"),
				filepath.Join(root, "sys/fs/cgroup/memory.max"))
		case hasController(parts[1], "memory"): // v1
			candidates = append(candidates,
				filepath.Join(root, "sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"),
				filepath.Join(root, "sys/fs/cgroup/memory/memory.limit_in_bytes"))
		}
	}
	for _, c := range candidates {
		v, err := readLimit(c)
		if err == nil {
			return v, nil
		}
	}
	return 0, nil
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads one limit file: "max" or a huge number is no limit (0).
func readLimit(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, err
	}
	s := string(bytes.TrimSpace(b))
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s: %q is not a limit", path, s)
	}
	if v >= unlimited {
		return 0, nil
	}
	return v, nil
}
