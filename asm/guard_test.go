//go:build unix

package asm

import (
	"syscall"
	"testing"
	"unsafe"
)

// guardSide says where guardSlice puts the unmapped (PROT_NONE) page.
type guardSide int

const (
	guardAfter  guardSide = iota // the slice ends exactly where the guard page begins
	guardBefore                  // the slice starts exactly where the guard page ends
)

func (g guardSide) String() string { return [...]string{"after", "before"}[g] }

// guardSlice returns n zeroed elements of T in their own mapping, touching an unmapped page
// on the given side: any kernel read or write past the end (or before the start) faults.
// The memory is unmapped when the test ends. Shared by every asm kernel test (CSR, BSR,
// N:M, GEMM): use it for X, Y, bias and, where a packed buffer can be re-homed, for W.
func guardSlice[T any](tb testing.TB, n int, side guardSide) []T {
	tb.Helper()
	var zero T
	size := int(unsafe.Sizeof(zero))
	pg := syscall.Getpagesize()
	bytes := n * size
	pages := (bytes+pg-1)/pg + 1
	mem, err := syscall.Mmap(-1, 0, pages*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = syscall.Munmap(mem) })
	start := pg
	if side == guardAfter {
		if err := syscall.Mprotect(mem[(pages-1)*pg:], syscall.PROT_NONE); err != nil {
			tb.Fatal(err)
		}
		start = (pages-1)*pg - bytes
	} else if err := syscall.Mprotect(mem[:pg], syscall.PROT_NONE); err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[start])), n)
}

// guardCopy returns a guarded copy of src.
func guardCopy[T any](tb testing.TB, src []T, side guardSide) []T {
	d := guardSlice[T](tb, len(src), side)
	copy(d, src)
	return d
}

func TestGuardSliceFaults(t *testing.T) {
	// The guard must really be unmapped: reading past it through the runtime's fault
	// handling panics (debug.SetPanicOnFault turns SIGSEGV into a recoverable panic).
	for _, side := range []guardSide{guardAfter, guardBefore} {
		s := guardSlice[float32](t, 5, side)
		s[0], s[4] = 1, 2
		p := unsafe.Pointer(&s[4])
		off := int64(4)
		if side == guardBefore {
			p = unsafe.Pointer(&s[0])
			off = -4
		}
		if !faults(unsafe.Add(p, off)) {
			t.Errorf("%v: reading past the slice did not fault", side)
		}
		if faults(p) {
			t.Errorf("%v: reading inside the slice faulted", side)
		}
	}
}
