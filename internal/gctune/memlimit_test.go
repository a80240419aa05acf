package gctune

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// fsTree writes files (path relative to the returned root -> content) into a new directory.
func fsTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"v2, the container's own cgroup", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "536870912\n",
		}, 512 << 20},
		{"v2, no limit", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "max\n",
		}, 0},
		{"v2, a nested cgroup seen from the host", map[string]string{
			"proc/self/cgroup":                          "0::/kubepods/pod1/c1\n",
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": "268435456\n",
			"sys/fs/cgroup/memory.max":                  "max\n",
		}, 256 << 20},
		{"v1, memory controller with others", map[string]string{
			"proc/self/cgroup": "5:cpu,cpuacct:/\n4:memory,hugetlb:/docker/abc\n0::/\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "134217728",
		}, 128 << 20},
		{"v1, unlimited (the kernel's largest page-aligned value)", map[string]string{
			"proc/self/cgroup":                           "4:memory:/\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0},
		{"a path leaving the cgroup tree is ignored", map[string]string{
			"proc/self/cgroup": "0::/../../etc\n",
			"etc/memory.max":   "1048576",
		}, 0},
		{"garbage in the limit file", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "lots\n",
		}, 0},
		{"no cgroup file", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := cgroupLimit(fsTree(t, tc.files))
			if got != tc.want {
				t.Fatalf("cgroupLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSetMemoryLimit(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })
	limited := fsTree(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "1073741824\n",
	})
	unset := func(string) (string, bool) { return "", false }

	debug.SetMemoryLimit(math.MaxInt64)
	got := setMemoryLimit(limited, unset)
	want := int64(1<<30) / 10 * limitTenths
	if got.Source != "cgroup" || got.Bytes != want || got.Cgroup != 1<<30 {
		t.Fatalf("with a 1 GiB cgroup: %+v, want %d bytes from the cgroup", got, want)
	}
	if l := debug.SetMemoryLimit(-1); l != want {
		t.Fatalf("the runtime's limit is %d, want %d", l, want)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	set := func(k string) (string, bool) { return "off", k == "GOMEMLIMIT" }
	if got := setMemoryLimit(limited, set); got.Source != "GOMEMLIMIT" || got.Bytes != 0 {
		t.Fatalf("with GOMEMLIMIT=off: %+v, want the operator's choice (no limit)", got)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("with GOMEMLIMIT set the runtime's limit changed to %d", l)
	}

	if got := setMemoryLimit(t.TempDir(), unset); got != (MemoryLimit{}) {
		t.Fatalf("without a cgroup limit: %+v, want none", got)
	}
}
