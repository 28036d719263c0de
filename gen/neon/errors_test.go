package neon

import (
	"strings"
	"testing"
)

// Every bad operand is refused: an error is recorded and nothing is emitted.
func TestOperandChecks(t *testing.T) {
	cases := []struct {
		name string
		emit func(e *Emitter)
		want string
	}{
		{"V32", func(e *Emitter) { e.FADD(V(32).S4(), V(1).S4(), V(2).S4()) }, "out of range V0..V31"},
		{"V-1", func(e *Emitter) { e.VFMLA(V(-1).S4(), V(1).S4(), V(2).S4()) }, "out of range"},
		{"fadd mixed", func(e *Emitter) { e.FADD(V(0).S4(), V(1).S2(), V(2).S4()) }, "arrangements differ"},
		{"fadd int arr", func(e *Emitter) { e.FMUL(V(0).H8(), V(1).H8(), V(2).H8()) }, "not a floating-point"},
		{"fmax D1", func(e *Emitter) { e.FMAX(V(0).As(D1), V(1).As(D1), V(2).As(D1)) }, "not a floating-point"},
		{"vfmla B16", func(e *Emitter) { e.VFMLA(V(0).B16(), V(1).B16(), V(2).B16()) }, "not a floating-point"},
		{"bad arr", func(e *Emitter) { e.FADD(V(0).As(9), V(1).As(9), V(2).As(9)) }, "invalid arrangement"},
		{"S lane 4", func(e *Emitter) { e.FMLAElem(V(1).S(4), V(2).S4(), V(3).S4()) }, "lane S[4] out of range 0..3"},
		{"S lane -1", func(e *Emitter) { e.FMLAElem(V(1).S(-1), V(2).S4(), V(3).S4()) }, "out of range"},
		{"D lane 2", func(e *Emitter) { e.FMLAElem(V(1).D(2), V(2).D2(), V(3).D2()) }, "lane D[2] out of range 0..1"},
		{"elem size", func(e *Emitter) { e.FMLAElem(V(1).D(0), V(2).S4(), V(3).S4()) }, "does not match"},
		{"elem reg", func(e *Emitter) { e.FMULElem(V(40).S(0), V(2).S4(), V(3).S4()) }, "out of range"},
		{"faddp scalar", func(e *Emitter) { e.FADDPScalar(V(1).S4(), V(0)) }, "S2 or D2"},
		{"list empty", func(e *Emitter) { e.VLD1(R(0)) }, "want 1..4"},
		{"list 5", func(e *Emitter) {
			e.VLD1(R(0), V(0).S4(), V(1).S4(), V(2).S4(), V(3).S4(), V(4).S4())
		}, "want 1..4"},
		{"list gap", func(e *Emitter) { e.VLD1Post(R(0), V(0).S4(), V(2).S4()) }, "not consecutive"},
		{"list mixed", func(e *Emitter) { e.VST1(R(0), V(0).S4(), V(1).S2()) }, "mixes"},
		{"R18", func(e *Emitter) { e.VLD1(R(18), V(0).S4()) }, "reserved"},
		{"R28 dst", func(e *Emitter) { e.ADD(R(1), R(2), R(28)) }, "reserved"},
		{"R27", func(e *Emitter) { e.MOVD(R(1), R(27)) }, "reserved"},
		{"R32", func(e *Emitter) { e.MOVD(R(1), R(32)) }, "out of range"},
		{"ZR base", func(e *Emitter) { e.VLD1R(ZR, V(0).S4()) }, "ZR not allowed"},
		{"ZR post reg", func(e *Emitter) { e.VLD1PostReg(R(0), ZR, V(0).S4()) }, "ZR not allowed"},
		{"lane H8", func(e *Emitter) { e.VLD1Lane(R(0), V(0).H(8)) }, "out of range 0..7"},
		{"lane B16", func(e *Emitter) { e.VST1Lane(V(0).B(16), R(0)) }, "out of range 0..15"},
		{"prfm odd", func(e *Emitter) { e.PRFM(M(R(0), 4), PLDL1KEEP) }, "multiple of 8"},
		{"prfm far", func(e *Emitter) { e.PRFM(M(R(0), 32768), PLDL1KEEP) }, "0..32760"},
		{"prfm neg", func(e *Emitter) { e.PRFM(M(R(0), -8), PLDL1KEEP) }, "0..32760"},
		{"prfm op", func(e *Emitter) { e.PRFM(M(R(0), 0), "PLDL9") }, "unknown prefetch"},
		{"dup size", func(e *Emitter) { e.VDUPLane(V(1).D(0), V(0).S4()) }, "does not match"},
		{"dup D1", func(e *Emitter) { e.VDUPGen(R(1), V(0).As(D1)) }, "D1"},
		{"vmov S4", func(e *Emitter) { e.VMOV(V(1).S4(), V(0).S4()) }, "B16 or B8"},
		{"ins size", func(e *Emitter) { e.VMOVLane(V(1).S(0), V(0).D(0)) }, "differ"},
		{"eor S4", func(e *Emitter) { e.VEOR(V(1).S4(), V(1).S4(), V(1).S4()) }, "B16 or B8"},
		{"shl 32", func(e *Emitter) { e.VSHL(32, V(1).S4(), V(2).S4()) }, "0..31"},
		{"ext S4", func(e *Emitter) { e.VEXT(4, V(1).S4(), V(2).S4(), V(3).S4()) }, "B16 or B8"},
		{"ext 16", func(e *Emitter) { e.VEXT(16, V(1).B16(), V(2).B16(), V(3).B16()) }, "0..15"},
		{"ext B8 8", func(e *Emitter) { e.VEXT(8, V(1).B8(), V(2).B8(), V(3).B8()) }, "0..7"},
		{"tbl gap", func(e *Emitter) { e.VTBL2(V(0).B16(), V(2).B16(), V(4).B16(), V(5).B16()) }, "not consecutive"},
		{"tbl S4", func(e *Emitter) { e.VTBL2(V(0).S4(), V(2).B16(), V(3).B16(), V(5).B16()) }, "B16"},
		{"mul D2", func(e *Emitter) { e.MULV(V(0).D2(), V(1).D2(), V(2).D2()) }, "not allowed"},
		{"neg D1", func(e *Emitter) { e.NEG(V(0).As(D1), V(1).As(D1)) }, "not allowed"},
		{"ushl mixed", func(e *Emitter) { e.USHL(V(0).S4(), V(1).H8(), V(2).S4()) }, "differ"},
		{"ushr 0", func(e *Emitter) { e.VUSHR(0, V(1).S4(), V(2).S4()) }, "1..32"},
		{"and S4", func(e *Emitter) { e.VAND(V(1).S4(), V(2).S4(), V(3).S4()) }, "B16 or B8"},
		{"uxtl", func(e *Emitter) { e.VUXTL(V(1).H8(), V(2).S4()) }, "UXTL takes"},
		{"add imm", func(e *Emitter) { e.ADDImm(4096, R(1), R(2)) }, "0..4095"},
		{"sub imm", func(e *Emitter) { e.SUBSImm(-1, R(1), R(2)) }, "0..4095"},
		{"cmp imm", func(e *Emitter) { e.CMPImm(5000, R(1)) }, "0..4095"},
		{"lsl 0", func(e *Emitter) { e.LSL(0, R(1), R(2)) }, "1..63"},
		{"lsr 64", func(e *Emitter) { e.LSR(64, R(1), R(2)) }, "1..63"},
		{"add shift", func(e *Emitter) { e.ADDShift(R(1), 64, R(2), R(3)) }, "0..63"},
		{"movd imm", func(e *Emitter) { e.MOVDImm(65536, R(1)) }, "0..65535"},
		{"movd neg", func(e *Emitter) { e.MOVDImm(-1, R(1)) }, "0..65535"},
		{"load align", func(e *Emitter) { e.Load(LoadD, M(R(0), 260), R(1)) }, "multiple of 8"},
		{"load far", func(e *Emitter) { e.Load(LoadHU, M(R(0), 8192), R(1)) }, "0..8190"},
		{"load neg", func(e *Emitter) { e.Load(LoadWU, M(R(0), -260), R(1)) }, "−256..255"},
		{"load kind", func(e *Emitter) { e.Load(9, M(R(0), 0), R(1)) }, "invalid load kind"},
		{"load post", func(e *Emitter) { e.LoadPost(LoadWU, R(0), 256, R(1)) }, "-256..255"},
		{"load post self", func(e *Emitter) { e.LoadPost(LoadWU, R(0), 4, R(0)) }, "own base"},
		{"fmovs far", func(e *Emitter) { e.FMOVSLoad(M(R(0), 16384), V(0)) }, "0..16380"},
		{"fmovq post", func(e *Emitter) { e.FMOVQLoadPost(R(0), 256, V(0)) }, "-256..255"},
		{"fmovs V33", func(e *Emitter) { e.FMOVSStore(V(33), M(R(0), 0)) }, "out of range"},
		{"fmadds", func(e *Emitter) { e.FMADDS(V(1), V(2), V(3), V(99)) }, "out of range"},
		{"arg name", func(e *Emitter) { e.LoadArg("a b", 0, R(0)) }, "invalid argument name"},
		{"arg off", func(e *Emitter) { e.LoadArg("p", 4, R(0)) }, "multiple of 8"},
		{"label", func(e *Emitter) { e.Label("1x") }, "invalid label"},
		{"label dup", func(e *Emitter) { e.Label("a"); e.Label("a") }, "defined twice"},
		{"branch bad", func(e *Emitter) { e.B("no-such") }, "invalid label"},
		{"branch undef", func(e *Emitter) { e.CBZ(R(1), "nowhere") }, "undefined label"},
		{"tbz bit", func(e *Emitter) { e.TBZ(64, R(1), "x"); e.Label("x") }, "0..63"},
		{"cond", func(e *Emitter) { e.Bcond(Cond(20), "x"); e.Label("x") }, "invalid condition"},
		{"comment", func(e *Emitter) { e.Comment("a\nb") }, "newline"},
	}
	for _, c := range cases {
		e := NewEmitter()
		c.emit(e)
		err := e.Err()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		for _, in := range e.Insts() {
			if in.Class != ClassLabel && in.Class != ClassBranch {
				t.Errorf("%s: emitted %q despite the error", c.name, in.Go)
			}
		}
	}
}

func TestFileRefusesBrokenFunctions(t *testing.T) {
	f := NewFunc("k", 8)
	f.FADD(V(0).S4(), V(1).S4(), V(40).S4())
	if _, err := (&File{Generator: "t", Funcs: []*Func{f}}).Bytes(); err == nil || !strings.Contains(err.Error(), "k:") {
		t.Fatalf("broken function rendered, err = %v", err)
	}
	g := NewFunc("ok", 12)
	g.RET()
	if _, err := (&File{Generator: "t", Funcs: []*Func{g}}).Bytes(); err == nil {
		t.Fatal("argument size 12 accepted")
	}
}

func TestFileHeaderAndShapeHelpers(t *testing.T) {
	f := NewFunc("dot", 8)
	f.Doc = []string{"dot is a test."}
	f.LoadArg("p", 0, R(0))
	f.MOVDImm(4, R(1))
	f.VZero(V(0))
	f.VZero(V(1))
	f.Label("loop")
	f.VLD1RPost(R(0), V(2).S4())
	f.VLD1(R(0), V(3).S4(), V(4).S4())
	f.VFMLA(V(3).S4(), V(2).S4(), V(0).S4())
	f.FMLAElem(V(2).S(0), V(4).S4(), V(1).S4())
	f.SUBSImm(1, R(1), R(1))
	f.Bcond(NE, "loop")
	f.RET()
	src, err := (&File{Generator: "gen/neon", BuildTags: "!purego", Funcs: []*Func{f}}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, want := range []string{"// Code generated by gen/neon. DO NOT EDIT.\n", "//go:build !purego\n",
		"#include \"textflag.h\"", "// dot is a test.\nTEXT ·dot(SB), NOSPLIT, $0-8\n", "loop:\n",
		"\tWORD $0x4f821081 // fmla v1.4s, v4.4s, v2.s[0]\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("file lacks %q:\n%s", want, s)
		}
	}
	loop, err := Loop(f.Insts(), "loop")
	if err != nil {
		t.Fatal(err)
	}
	c := Counts(loop)
	if c[ClassLoadRep] != 1 || c[ClassLoad] != 1 || c[ClassFMA] != 1 || c[ClassFMAElem] != 1 || c[ClassInt] != 1 || c[ClassBranch] != 1 {
		t.Errorf("counts %v", c)
	}
	if acc := Accumulators(loop); len(acc) != 2 || acc[0] != 0 || acc[1] != 1 {
		t.Errorf("accumulators %v", acc)
	}
	if _, err := Loop(f.Insts(), "none"); err == nil {
		t.Error("Loop found a missing label")
	}
	nat, enc := Mnemonics(f.Insts())
	if strings.Join(enc, " ") != "fmla" || !strings.Contains(strings.Join(nat, " "), "VFMLA") {
		t.Errorf("mnemonics native %v encoded %v", nat, enc)
	}
	goWords(t, src) // Go's assembler accepts the file, header and build tag included
}
