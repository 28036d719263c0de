package vm

// GroupMachine extends Machine with the loads that fetch one step of a row group at once:
// the CSR tiles (gen/kernels/csr.go) interleave R rows, so a step's R weights and R
// column offsets lie side by side. Loading each on its own costs two loads per FMA on top
// of the X load; loading them as one group and splitting it in registers leaves about one.
// A backend that lacks it does not implement it, and the tiles load entry by entry there.
type GroupMachine interface {
	Machine
	// LoadU16s sets dst[j] to the j-th of len(dst) (2 or 4) consecutive uint16 at m,
	// zero-extended, with one load of exactly 2·len(dst) bytes.
	LoadU16s(dst []Reg, m Mem)
	// LoadGroup sets v to the n (2 or 4) float32s at m, repeated in every 128-bit block of
	// v: one load of exactly 4·n bytes.
	LoadGroup(v Vec, m Mem, n int)
	// BcastGroup sets every lane of dst to the j-th float32 (j < n) of the group that
	// LoadGroup(src, …, n) loaded.
	BcastGroup(dst, src Vec, j, n int)
	// ByteField sets dst to byte j (j < 8, byte 0 the least significant) of src,
	// zero-extended and shifted left by shift bits (shift ≤ 23); src is unchanged. With one
	// Machine.Load of 2, 4 or 8 bytes it reads that many consecutive byte positions (the
	// N:M tiles, gen/kernels/nm.go) as scaled offsets, one load for them all.
	ByteField(dst, src Reg, j, shift int)
}

// ByteGroupMachine loads a group of bytes at once (the 8-bit-delta SpMV's column deltas,
// gen/kernels/spmvdelta.go): one load instead of one per byte, where loads bound the loop.
type ByteGroupMachine interface {
	Machine
	// LoadU8s sets dst[j] to the j-th of len(dst) (2, 4 or 8) consecutive bytes at m,
	// zero-extended, with one load of exactly len(dst) bytes.
	LoadU8s(dst []Reg, m Mem)
}
