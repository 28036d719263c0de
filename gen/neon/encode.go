package neon

import "fmt"

// Encoders for the ASIMD instructions Go's arm64 assembler does not know (Go 1.26): the
// floating-point by-element and three-register forms sparsegen's kernels need. Each checks
// every operand and returns the 32-bit instruction word (ARM ARM, "Advanced SIMD vector x
// indexed element" and "Advanced SIMD three same").

// fpArr checks that the arrangements are one float vector shape (2S, 4S or 2D) and equal;
// it returns the Q and sz bits.
func fpArr(vs ...Vec) (q, sz uint32, err error) {
	for _, v := range vs {
		if err := v.check(); err != nil {
			return 0, 0, err
		}
	}
	a := vs[0].Arr
	for _, v := range vs[1:] {
		if v.Arr != a {
			return 0, 0, fmt.Errorf("arrangements differ: %s and %s", a, v.Arr)
		}
	}
	switch a {
	case S2:
		return 0, 0, nil
	case S4:
		return 1, 0, nil
	case D2:
		return 1, 1, nil
	}
	return 0, 0, fmt.Errorf("arrangement %s is not a floating-point vector (want S2, S4 or D2)", a)
}

// byElem encodes the "vector x indexed element" float forms: FMLA (op 0001), FMLS (0101),
// FMUL (1001), with d, n of one arrangement and m a lane of the same element size.
func byElem(opc uint32, d, n Vec, m Lane) (uint32, error) {
	q, sz, err := fpArr(d, n)
	if err != nil {
		return 0, err
	}
	if err := m.check(); err != nil {
		return 0, err
	}
	var h, l uint32
	switch {
	case sz == 0 && m.Size == SizeS:
		h, l = uint32(m.Index>>1), uint32(m.Index&1)
	case sz == 1 && m.Size == SizeD:
		h = uint32(m.Index)
	default:
		return 0, fmt.Errorf("lane size %s does not match arrangement %s", m.Size.goName(), d.Arr)
	}
	rm := uint32(m.Reg)
	return 0x0F801000 | q<<30 | sz<<22 | l<<21 | (rm>>4)<<20 | (rm&15)<<16 | opc<<12 | h<<11 |
		uint32(n.Reg)<<5 | uint32(d.Reg), nil
}

// EncFMLAElem encodes FMLA Vd.T, Vn.T, Vm.Ts[i] (d += n · m[i]).
func EncFMLAElem(d, n Vec, m Lane) (uint32, error) { return byElem(0b0001, d, n, m) }

// EncFMLSElem encodes FMLS Vd.T, Vn.T, Vm.Ts[i] (d −= n · m[i]).
func EncFMLSElem(d, n Vec, m Lane) (uint32, error) { return byElem(0b0101, d, n, m) }

// EncFMULElem encodes FMUL Vd.T, Vn.T, Vm.Ts[i].
func EncFMULElem(d, n Vec, m Lane) (uint32, error) { return byElem(0b1001, d, n, m) }

// Three-same float opcodes: base words with Q = sz = 0 and all registers 0.
const (
	opFADD   = 0x0E20D400
	opFSUB   = 0x0EA0D400
	opFMUL   = 0x2E20DC00
	opFMAX   = 0x0E20F400
	opFMIN   = 0x0EA0F400
	opFMAXNM = 0x0E20C400
	opFMINNM = 0x0EA0C400
	opFADDP  = 0x2E20D400
)

func threeSame(base uint32, d, n, m Vec) (uint32, error) {
	q, sz, err := fpArr(d, n, m)
	if err != nil {
		return 0, err
	}
	return base | q<<30 | sz<<22 | uint32(m.Reg)<<16 | uint32(n.Reg)<<5 | uint32(d.Reg), nil
}

// EncFADD encodes FADD Vd.T, Vn.T, Vm.T.
func EncFADD(d, n, m Vec) (uint32, error) { return threeSame(opFADD, d, n, m) }

// EncFSUB encodes FSUB Vd.T, Vn.T, Vm.T (d = n − m).
func EncFSUB(d, n, m Vec) (uint32, error) { return threeSame(opFSUB, d, n, m) }

// EncFMUL encodes FMUL Vd.T, Vn.T, Vm.T.
func EncFMUL(d, n, m Vec) (uint32, error) { return threeSame(opFMUL, d, n, m) }

// EncFMAX encodes FMAX Vd.T, Vn.T, Vm.T (NaN in either operand gives NaN).
func EncFMAX(d, n, m Vec) (uint32, error) { return threeSame(opFMAX, d, n, m) }

// EncFMIN encodes FMIN Vd.T, Vn.T, Vm.T (NaN in either operand gives NaN).
func EncFMIN(d, n, m Vec) (uint32, error) { return threeSame(opFMIN, d, n, m) }

// EncFMAXNM encodes FMAXNM Vd.T, Vn.T, Vm.T (a quiet NaN loses to a number).
func EncFMAXNM(d, n, m Vec) (uint32, error) { return threeSame(opFMAXNM, d, n, m) }

// EncFMINNM encodes FMINNM Vd.T, Vn.T, Vm.T.
func EncFMINNM(d, n, m Vec) (uint32, error) { return threeSame(opFMINNM, d, n, m) }

// EncFADDP encodes the pairwise FADDP Vd.T, Vn.T, Vm.T.
func EncFADDP(d, n, m Vec) (uint32, error) { return threeSame(opFADDP, d, n, m) }

// EncFADDPScalar encodes FADDP Sd, Vn.2S (or Dd, Vn.2D): the sum of the two lanes of n.
func EncFADDPScalar(d VReg, n Vec) (uint32, error) {
	if err := n.check(); err != nil {
		return 0, err
	}
	if !d.valid() {
		return 0, fmt.Errorf("vector register %d out of range V0..V31", d)
	}
	var sz uint32
	switch n.Arr {
	case S2:
	case D2:
		sz = 1
	default:
		return 0, fmt.Errorf("scalar FADDP takes S2 or D2, not %s", n.Arr)
	}
	return 0x7E30D800 | sz<<22 | uint32(n.Reg)<<5 | uint32(d), nil
}

// intArr checks integer vector operands of one arrangement (not D1) and returns Q and size.
func intArr(noD bool, vs ...Vec) (q, size uint32, err error) {
	if err := checkVecs(vs...); err != nil {
		return 0, 0, err
	}
	a := vs[0].Arr
	for _, v := range vs[1:] {
		if v.Arr != a {
			return 0, 0, fmt.Errorf("arrangements differ: %s and %s", a, v.Arr)
		}
	}
	if a == D1 || (noD && a == D2) {
		return 0, 0, fmt.Errorf("arrangement %s not allowed here", a)
	}
	if a.Q() {
		q = 1
	}
	return q, uint32(a.Size()), nil
}

// EncNEG encodes the integer NEG Vd.T, Vn.T.
func EncNEG(d, n Vec) (uint32, error) {
	q, size, err := intArr(false, d, n)
	if err != nil {
		return 0, err
	}
	return 0x2E20B800 | q<<30 | size<<22 | uint32(n.Reg)<<5 | uint32(d.Reg), nil
}

// EncUSHL encodes USHL Vd.T, Vn.T, Vm.T: each lane of n shifted by the signed low byte of
// the lane of m (left if positive, logical right if negative).
func EncUSHL(d, n, m Vec) (uint32, error) {
	q, size, err := intArr(false, d, n, m)
	if err != nil {
		return 0, err
	}
	return 0x2E204400 | q<<30 | size<<22 | uint32(m.Reg)<<16 | uint32(n.Reg)<<5 | uint32(d.Reg), nil
}

// EncMULV encodes the integer MUL Vd.T, Vn.T, Vm.T (B, H or S lanes).
func EncMULV(d, n, m Vec) (uint32, error) {
	q, size, err := intArr(true, d, n, m)
	if err != nil {
		return 0, err
	}
	return 0x0E209C00 | q<<30 | size<<22 | uint32(m.Reg)<<16 | uint32(n.Reg)<<5 | uint32(d.Reg), nil
}
