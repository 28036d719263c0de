//go:build unix

package asm

import (
	"runtime/debug"
	"unsafe"
)

// faults reports whether reading a float32 at p faults.
func faults(p unsafe.Pointer) (f bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if recover() != nil {
			f = true
		}
	}()
	_ = *(*float32)(p)
	return false
}
