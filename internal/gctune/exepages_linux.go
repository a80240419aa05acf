//go:build linux

package gctune

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseExecutablePages drops from the resident set the pages of the process's own
// executable that are mapped read-only (code and read-only data) and tells the kernel to
// map them back one page at a time (MADV_RANDOM) rather than 64 KiB around each fault.
//
// Start-up runs code and reads data of every linked package once (package initialisation,
// configuration, the CEL and OpenID libraries); the kernel maps those pages, and their
// neighbours, into the process and counts them in its RSS for as long as it runs, though
// most are never used again. They are clean pages of the file: dropping them costs
// nothing, and the ones serving needs come back on first use. It returns the bytes of the
// mappings it advised (not what the kernel dropped); errors are not fatal.
func ReleaseExecutablePages() (uint64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var advised uint64
	var firstErr error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || len(fields[1]) < 2 || fields[1][1] == 'w' {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		madvise(start, end-start, unix.MADV_RANDOM)
		if err := madvise(start, end-start, unix.MADV_PAGEOUT); err == nil {
			advised += end - start
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if advised == 0 && firstErr != nil {
		return 0, firstErr // e.g. EINVAL: a kernel before 5.4 has no MADV_PAGEOUT
	}
	return advised, sc.Err()
}

func madvise(addr, length uint64, advice int) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(advice)); e != 0 {
		return e
	}
	return nil
}
