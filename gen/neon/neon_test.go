package neon

import (
	"encoding/binary"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/arch/arm64/arm64asm"
)

// everything emits every instruction form of the emitter, over a spread of registers, lanes
// and arrangements, with labels and branches both ways.
func everything() *Func {
	f := NewFunc("everything", 0)
	e := f.Emitter
	fa := []Arr{S2, S4, D2}
	e.Label("top")
	// WORD-encoded float forms
	for _, a := range fa {
		for _, r := range [][3]int{{0, 1, 2}, {31, 30, 29}, {7, 16, 15}, {17, 5, 31}} {
			m, n, d := V(r[0]).As(a), V(r[1]).As(a), V(r[2]).As(a)
			e.FADD(m, n, d)
			e.FSUB(m, n, d)
			e.FMUL(m, n, d)
			e.FMAX(m, n, d)
			e.FMIN(m, n, d)
			e.FMAXNM(m, n, d)
			e.FMINNM(m, n, d)
			e.FADDP(m, n, d)
			e.VFMLA(m, n, d)
			e.VFMLS(m, n, d)
		}
	}
	for _, rm := range []int{0, 1, 15, 16, 31} {
		for i := 0; i < 4; i++ {
			e.FMLAElem(V(rm).S(i), V(31-rm).S4(), V((rm+7)%32).S4())
			e.FMLAElem(V(rm).S(i), V(3).S2(), V(30).S2())
			e.FMLSElem(V(rm).S(i), V(9).S4(), V(12).S4())
			e.FMULElem(V(rm).S(i), V(20).S4(), V(21).S4())
		}
		for i := 0; i < 2; i++ {
			e.FMLAElem(V(rm).D(i), V(2).D2(), V(3).D2())
			e.FMULElem(V(rm).D(i), V(4).D2(), V(5).D2())
		}
	}
	e.FADDPScalar(V(1).S2(), V(0))
	e.FADDPScalar(V(31).S2(), V(17))
	e.FADDPScalar(V(9).D2(), V(10))
	// vector memory
	for _, a := range []Arr{B8, B16, H4, H8, S2, S4, D1, D2} {
		e.VLD1(R(0), V(3).As(a))
		e.VLD1Post(R(1), V(30).As(a), V(31).As(a), V(0).As(a))
		e.VLD1PostReg(R(2), R(25), V(4).As(a), V(5).As(a))
		e.VST1(R(3), V(6).As(a), V(7).As(a), V(8).As(a), V(9).As(a))
		e.VST1Post(R(4), V(10).As(a))
		e.VST1PostReg(R(5), R(6), V(11).As(a))
		e.VLD1R(R(7), V(12).As(a))
		e.VLD1RPost(R(8), V(13).As(a))
		e.VLD1RPostReg(R(9), R(10), V(14).As(a))
	}
	for _, l := range []Lane{V(1).S(3), V(31).S(0), V(2).D(1), V(3).H(7), V(4).B(15)} {
		e.VLD1Lane(R(11), l)
		e.VLD1LanePost(R(12), l)
		e.VLD1LanePostReg(R(13), R(14), l)
		e.VST1Lane(l, R(15))
		e.VST1LanePost(l, R(16))
	}
	e.PRFM(M(R(17), 0), PLDL1KEEP)
	e.PRFM(M(R(19), 256), PLDL1STRM)
	e.PRFM(M(R(20), 32760), PLDL2KEEP)
	e.PRFM(M(R(21), 8), PSTL1KEEP)
	e.PRFM(M(R(0), 64), PLDL2STRM)
	e.PRFM(M(R(0), 128), PLDL3KEEP)
	// moves
	e.VDUPLane(V(1).S(2), V(0).S4())
	e.VDUPLane(V(31).S(3), V(30).S2())
	e.VDUPLane(V(5).D(1), V(6).D2())
	e.VDUPLane(V(5).H(5), V(6).H8())
	e.VDUPLane(V(5).B(9), V(6).B16())
	e.VDUPGen(R(1), V(0).S4())
	e.VDUPGen(R(2), V(3).D2())
	e.VDUPGen(R(4), V(5).H4())
	e.VMOV(V(1).B16(), V(0).B16())
	e.VMOV(V(31).B8(), V(2).B8())
	e.VMOVToLane(R(1), V(0).S(1))
	e.VMOVToLane(R(3), V(31).D(1))
	e.VMOVFromLane(V(0).S(1), R(1))
	e.VMOVFromLane(V(9).D(0), R(2))
	e.VMOVFromLane(V(9).H(3), R(2))
	e.VMOVFromLane(V(9).B(11), R(2))
	e.VMOVLane(V(1).S(0), V(0).S(3))
	e.VMOVLane(V(1).D(1), V(31).D(0))
	e.VEOR(V(1).B16(), V(2).B16(), V(3).B16())
	e.VZero(V(31))
	e.VADD(V(1).S4(), V(2).S4(), V(3).S4())
	e.VADD(V(1).D2(), V(2).D2(), V(3).D2())
	e.VADD(V(1).H8(), V(2).H8(), V(3).H8())
	e.VSHL(2, V(1).S4(), V(2).S4())
	e.VSHL(31, V(1).S4(), V(2).S4())
	e.VSHL(0, V(1).S4(), V(2).S4())
	e.VSHL(15, V(3).H8(), V(4).H8())
	for _, a := range []Arr{B16, B8} {
		e.VAND(V(1).As(a), V(2).As(a), V(3).As(a))
		e.VORR(V(31).As(a), V(0).As(a), V(17).As(a))
		e.VBSL(V(4).As(a), V(5).As(a), V(6).As(a))
	}
	for _, a := range []Arr{B8, B16, H4, H8, S2, S4, D2} {
		e.VSUB(V(1).As(a), V(2).As(a), V(3).As(a))
		e.VCMTST(V(7).As(a), V(8).As(a), V(9).As(a))
		e.VUSHR(1, V(10).As(a), V(11).As(a))
		e.VUSHR(8*a.Size().Bytes(), V(10).As(a), V(11).As(a))
		e.NEG(V(12).As(a), V(13).As(a))
		e.USHL(V(14).As(a), V(31).As(a), V(0).As(a))
		if a != D2 {
			e.MULV(V(16).As(a), V(17).As(a), V(18).As(a))
		}
	}
	e.VTBL2(V(1).B16(), V(30).B16(), V(31).B16(), V(4).B16())
	e.VTBL2(V(1).B16(), V(31).B16(), V(0).B16(), V(1).B16())
	e.VEXT(8, V(1).B16(), V(2).B16(), V(3).B16())
	e.VEXT(15, V(31).B16(), V(0).B16(), V(9).B16())
	e.VEXT(3, V(4).B8(), V(5).B8(), V(6).B8())
	e.VUXTL(V(1).H4(), V(2).S4())
	e.VUXTL(V(1).B8(), V(2).H8())
	e.FCVTL(V(1), V(2))
	e.FCVTL(V(31), V(0))
	e.SXTL(V(1).B8(), V(2).H8())
	e.SXTL(V(30).H4(), V(31).S4())
	e.SCVTF(V(3), V(4))
	e.SCVTF(V(0), V(31))
	e.VUXTL(V(1).S2(), V(2).D2())
	// scalar float
	e.FMOVSLoad(M(R(0), 0), V(1))
	e.FMOVSLoad(M(R(0), 16380), V(31))
	e.FMOVSLoadPost(R(1), 4, V(2))
	e.FMOVSLoadPost(R(1), -4, V(2))
	e.FMOVSLoadIdx(R(2), R(3), V(4))
	e.FMOVSStore(V(5), M(R(6), 8))
	e.FMOVSStorePost(V(7), R(8), 4)
	e.FMOVS(V(1), V(2))
	e.FADDS(V(1), V(2), V(3))
	e.FMAXS(V(1), V(2), V(3))
	e.FMINS(V(1), V(2), V(3))
	e.FMADDS(V(1), V(2), V(3), V(4))
	// integer
	e.MOVD(R(1), R(2))
	e.MOVD(ZR, R(2))
	e.MOVDImm(0, R(3))
	e.ADD(R(1), R(2), R(3))
	e.ADDShift(R(1), 2, R(2), R(3))
	e.ADDShift(R(25), 63, R(24), R(23))
	e.ADDImm(4095, R(2), R(3))
	e.ADDImm(0, R(2), R(3))
	e.SUB(R(1), R(2), R(3))
	e.SUBShift(R(1), 3, R(2), R(3))
	e.SUBImm(16, R(2), R(3))
	e.SUBS(R(1), R(2), R(3))
	e.SUBSImm(1, R(4), R(4))
	e.ADDSImm(4095, R(4), R(5))
	e.CMP(R(1), R(2))
	e.CMPImm(7, R(2))
	e.LSL(2, R(1), R(2))
	e.LSL(63, R(1), R(2))
	e.LSR(1, R(1), R(2))
	e.MUL(R(1), R(2), R(3))
	e.MADD(R(1), R(2), R(3), R(4))
	e.FMOVQLoad(M(R(0), 0), V(1))
	e.FMOVQLoad(M(R(0), 65520), V(31))
	e.FMOVQStore(V(2), M(R(3), 32))
	e.FMOVQLoadPost(R(4), 16, V(5))
	e.FMOVDLoadPost(R(4), 8, V(5))
	e.FMOVDLoadPost(R(4), -8, V(30))
	e.FMOVQLoadPost(R(4), -32, V(6))
	e.FMOVQLoad(M(R(0), -16), V(7))
	e.FMOVQLoad(M(R(0), 8), V(7))
	e.FMOVSLoad(M(R(0), -4), V(8))
	e.FMOVSLoad(M(R(0), 2), V(8))
	e.FMOVSStore(V(8), M(R(9), -256))
	e.FMOVDLoad(M(R(0), 255), V(9))
	e.Load(LoadHU, M(R(1), -2), R(3))
	e.Load(LoadWU, M(R(1), 1), R(3))
	e.Load(LoadD, M(R(1), -8), R(3))
	e.Store(StoreW, R(1), M(R(2), -4))
	e.FMOVDLoad(M(R(0), 8), V(4))
	e.FMOVDStore(V(5), M(R(6), 32760))
	e.CSEL(LT, R(1), R(2), R(1))
	e.CSEL(HS, R(4), R(5), R(6))
	e.TST(R(1), R(2))
	e.CMNImm(5, R(1))
	for k := StoreD; k <= StoreB; k++ {
		e.Store(k, R(1), M(R(0), 0))
		e.Store(k, R(1), M(R(0), 4*storeSize[k]))
		e.Store(k, ZR, M(R(2), 4095*storeSize[k]))
		e.StoreIdx(k, R(1), R(0), R(2))
	}
	for k := LoadD; k <= LoadBU; k++ {
		e.Load(k, M(R(0), 0), R(1))
		e.Load(k, M(R(0), 8*loadSize[k]), R(1))
		e.Load(k, M(R(0), 4095*loadSize[k]), R(1))
		e.LoadPost(k, R(0), loadSize[k], R(1))
		e.LoadPost(k, R(0), -256, R(1))
		e.LoadIdx(k, R(0), R(1), R(2))
	}
	// control flow: both directions
	e.B("fwd")
	for c := EQ; c <= LE; c++ {
		e.Bcond(c, "top")
		e.Bcond(c, "fwd")
	}
	e.CBZ(R(1), "top")
	e.CBNZ(R(25), "fwd")
	e.TBZ(0, R(2), "fwd")
	e.TBNZ(63, R(3), "top")
	e.Comment("a comment")
	e.Label("fwd")
	e.ADD(R(1), R(2), R(3)) // not a branch: Go's assembler threads a jump to a jump
	e.B("top")
	e.RET()
	return f
}

func TestEveryInstructionBothToolchains(t *testing.T) {
	f := everything()
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	code := Code(f.Insts())
	if len(code) < 300 {
		t.Fatalf("only %d instructions", len(code))
	}
	compareToolchains(t, f)
}

// normGNU folds spelling differences that do not change the instruction.
func normGNU(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = regexp.MustCompile(`\s+`).ReplaceAllString(s, " ")
	return s
}

// Every WORD the emitter writes decodes (x/arch's arm64asm) to the GNU text in its comment.
func TestWordsDecode(t *testing.T) {
	n := 0
	for _, in := range everything().Insts() {
		if !in.Encoded {
			continue
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], in.Word)
		d, err := arm64asm.Decode(b[:])
		if err != nil {
			t.Errorf("%08x (%s): %v", in.Word, in.GNU, err)
			continue
		}
		if got := normGNU(arm64asm.GNUSyntax(d)); got != normGNU(in.GNU) {
			t.Errorf("%08x decodes to %q, emitter says %q", in.Word, got, in.GNU)
		}
		n++
	}
	if n < 190 {
		t.Fatalf("only %d encoded instructions checked", n)
	}
}

// Instructions whose GNU spelling is not fixed: Go's choice is checked by decoding.
func TestImmediateMovesAndArgs(t *testing.T) {
	f := NewFunc("imm", 16)
	for _, v := range []int{1, 7, 255, 4095, 4096, 65535} {
		f.MOVDImm(v, R(3))
	}
	f.MOVDConst(-5, R(4))
	f.LoadArg("p", 0, R(0))
	f.LoadArgF32("lo", 8, V(1))
	f.RET()
	src, err := (&File{Generator: "test", Funcs: []*Func{f}}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ws := goWords(t, src)[0]
	if len(ws) != len(Code(f.Insts())) {
		t.Fatalf("%d words for %d instructions:\n%s", len(ws), len(Code(f.Insts())), src)
	}
	want := []string{"#0x1", "#0x7", "#0xff", "#0xfff", "#0x1000", "#0xffff"}
	for i, w := range want {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], ws[i])
		d, err := arm64asm.Decode(b[:])
		if err != nil {
			t.Fatal(err)
		}
		g := arm64asm.GNUSyntax(d)
		if !(strings.HasPrefix(g, "mov x3, ") || strings.HasPrefix(g, "orr x3, xzr, ")) || !strings.HasSuffix(g, w) {
			t.Errorf("MOVD $imm %d: %q", i, g)
		}
	}
	for i, w := range []string{"mov x4,#0xfffffffffffffffb", "ldr x0, [sp,#8]", "ldr s1, [sp,#16]"} {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], ws[len(want)+i])
		d, _ := arm64asm.Decode(b[:])
		if g := strings.ReplaceAll(arm64asm.GNUSyntax(d), ", #", ",#"); g != w {
			t.Errorf("argument load %d: %q, want %q", i, g, w)
		}
	}
}
