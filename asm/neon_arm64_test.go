//go:build !purego

package asm

import (
	"bufio"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/arch/arm64/arm64asm"
)

// NEON-specific checks; the kernel tests themselves (csr_test.go, gemm_test.go, bsr_test.go,
// spmv_test.go, guard pages included) run every registered family this CPU supports, so
// under qemu they cover the NEON kernels. gen/neon's shape tests check the inner loops.

// Every NEON family this binary was built with is registered, and the CPU (or qemu's) has
// ASIMD.
func TestNEONFamiliesRegistered(t *testing.T) {
	if hostFeatures()&FeatASIMD == 0 {
		t.Skip("CPU without ASIMD")
	}
	want := []string{"spmm_csr_t16_neon", "spmm_csr_t32_neon", "spmv_csr_i16_neon", "spmv_csr_i32_neon",
		"gemm_8x12_neon", "bsr_any_neon", "bsr4x1_t16_neon", "bsr8x1_t8_neon", "bsr4x4_t16_neon",
		"nm2of4_r4_t16_neon", "nm2of4_r2_t32_neon", "nm_any_r4_t16_neon", "nm2of4_gemv_neon", "nm4of8_gemv_neon"}
	for _, name := range want {
		if _, ok := Lookup(name); !ok {
			t.Errorf("%s not registered", name)
		}
	}
	var spmv int
	for _, s := range spmvSpecs {
		if s.ISA == NEON {
			spmv++
		}
	}
	if spmv != 2 {
		t.Errorf("%d NEON SpMV specs, want 2", spmv)
	}
	n := 0
	for _, f := range Families() {
		if f.ISA == NEON {
			if f.Features != FeatASIMD {
				t.Errorf("%s declares %v, want ASIMD", f.Name, f.Features)
			}
			n++
		}
	}
	if n < len(want) {
		t.Errorf("only %d NEON families", n)
	}
}

// The peak loop runs (under qemu its figure is emulation speed, not the hardware's).
func TestNEONPeakRuns(t *testing.T) {
	if hostFeatures()&FeatASIMD == 0 {
		t.Skip("CPU without ASIMD")
	}
	g, err := PeakGFLOPS(NEON, 10*time.Millisecond)
	if err != nil || !(g > 0) {
		t.Fatalf("PeakGFLOPS(NEON) = %v, %v", g, err)
	}
	t.Logf("NEON peak loop: %.2f GFLOP/s (meaningless under emulation)", g)
}

var wordLine = regexp.MustCompile(`^\s*WORD \$0x([0-9a-f]{8}) // (.*)$`)

// Every WORD in the committed NEON assembly decodes to the GNU instruction in its comment
// (x/arch's arm64 disassembler), and only the instructions Go's assembler lacks are WORDs.
func TestNEONWordsDecode(t *testing.T) {
	files, err := filepath.Glob("*_neon_arm64.s")
	if err != nil || len(files) < 4 {
		t.Fatalf("generated NEON files: %v, %v", files, err)
	}
	allowed := map[string]bool{"fmla": true, "fmls": true, "fmul": true, "fadd": true, "fsub": true,
		"fmax": true, "fmin": true, "fmaxnm": true, "fminnm": true, "faddp": true,
		"neg": true, "ushl": true, "mul": true, "fcvtl": true, "sxtl": true, "scvtf": true}
	words := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			m := wordLine.FindStringSubmatch(sc.Text())
			if m == nil {
				if strings.Contains(sc.Text(), "WORD") {
					t.Errorf("%s:%d: malformed WORD line %q", name, line, sc.Text())
				}
				continue
			}
			w, _ := strconv.ParseUint(m[1], 16, 32)
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(w))
			inst, err := arm64asm.Decode(b[:])
			if err != nil {
				t.Errorf("%s:%d: %s does not decode: %v", name, line, m[1], err)
				continue
			}
			got := strings.Join(strings.Fields(arm64asm.GNUSyntax(inst)), " ")
			if got != m[2] {
				t.Errorf("%s:%d: %s decodes to %q, comment says %q", name, line, m[1], got, m[2])
			}
			if op := strings.Fields(m[2])[0]; !allowed[op] {
				t.Errorf("%s:%d: %s is WORD-encoded but not in the list of instructions Go lacks", name, line, op)
			}
			words++
		}
		f.Close()
	}
	if words < 100 {
		t.Fatalf("only %d WORDs checked", words)
	}
	t.Logf("%d WORD-encoded instructions decoded in %d files", words, len(files))
}
