package sysmem

import "golang.org/x/sys/unix"

func total() int64 {
	b, err := unix.SysctlUint64("hw.memsize")
	if err != nil || b > 1<<62 {
		return 0
	}
	return int64(b)
}
