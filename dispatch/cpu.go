package dispatch

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/cpu"

	"github.com/sparsegen/sparsegen/asm"
)

// CPU is what dispatch knows about the processor it runs on: the features that are
// present and enabled (golang.org/x/sys/cpu honours GODEBUG=cpu.avx512f=off, cpu.all=off
// and the like, and checks that the OS saves the wider registers), and a model name used
// only in tuning-record signatures, never to choose kernels.
type CPU struct {
	Vendor   string      // e.g. "AuthenticAMD"; "" when unknown
	Model    string      // e.g. "AMD EPYC 9B45"; "" when unknown
	Features asm.Feature // enabled features, as asm.Feature bits
	Cores    int         // runtime.NumCPU()
	GOARCH   string
}

var (
	hostOnce sync.Once
	hostCPU  CPU
)

// Host returns the running CPU's description (computed once).
func Host() CPU {
	hostOnce.Do(func() {
		hostCPU = CPU{Features: detectFeatures(), Cores: runtime.NumCPU(), GOARCH: runtime.GOARCH}
		hostCPU.Vendor, hostCPU.Model = cpuModel()
	})
	return hostCPU
}

func detectFeatures() asm.Feature {
	var f asm.Feature
	set := func(ok bool, bit asm.Feature) {
		if ok {
			f |= bit
		}
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		set(cpu.X86.HasAVX2, asm.FeatAVX2)
		set(cpu.X86.HasFMA, asm.FeatFMA)
		set(cpu.X86.HasAVX512F, asm.FeatAVX512F)
		set(cpu.X86.HasAVX512VL, asm.FeatAVX512VL)
		set(cpu.X86.HasAVX512BW, asm.FeatAVX512BW)
		set(cpu.X86.HasAVX512DQ, asm.FeatAVX512DQ)
		set(cpu.X86.HasF16C, asm.FeatF16C)
		set(cpu.X86.HasPOPCNT, asm.FeatPOPCNT)
	case "arm64":
		// ASIMD is architectural on arm64; x/sys/cpu reports it where the OS tells.
		set(cpu.ARM64.HasASIMD || runtime.GOARCH == "arm64", asm.FeatASIMD)
	}
	return f
}

// cpuModel reads the vendor and model name where the OS offers them (Linux /proc/cpuinfo).
func cpuModel() (vendor, model string) {
	fh, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "", ""
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() && (vendor == "" || model == "") {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "vendor_id", "CPU implementer":
			if vendor == "" {
				vendor = v
			}
		case "model name", "CPU part":
			if model == "" {
				model = v
			}
		}
	}
	return vendor, model
}

// isaFeatures is what an ISA needs at the least; each family also declares its own exact set.
func isaFeatures(i asm.ISA) asm.Feature {
	switch i {
	case asm.AVX2:
		return asm.FeatAVX2 | asm.FeatFMA
	case asm.AVX512:
		return asm.FeatAVX512F | asm.FeatAVX2 | asm.FeatFMA
	case asm.NEON:
		return asm.FeatASIMD
	}
	return 0
}

// isaRank orders ISAs of one architecture (higher is wider); ISAs of another architecture
// rank -1. Generic is 0 everywhere.
func isaRank(i asm.ISA, goarch string) int {
	switch i {
	case asm.Generic:
		return 0
	case asm.AVX2:
		if goarch == "amd64" {
			return 1
		}
	case asm.AVX512:
		if goarch == "amd64" {
			return 2
		}
	case asm.NEON:
		if goarch == "arm64" {
			return 1
		}
	}
	return -1
}

// Supported reports whether the CPU can run code for ISA i.
func (c CPU) Supported(i asm.ISA) bool {
	return isaRank(i, c.GOARCH) >= 0 && c.Features&isaFeatures(i) == isaFeatures(i)
}

// BestISA is the widest ISA the CPU supports.
func (c CPU) BestISA() asm.ISA {
	best := asm.Generic
	for _, i := range []asm.ISA{asm.AVX2, asm.AVX512, asm.NEON} {
		if c.Supported(i) && isaRank(i, c.GOARCH) > isaRank(best, c.GOARCH) {
			best = i
		}
	}
	return best
}

// KernelISA is the widest ISA, no wider than isaCap, of the kernel families in this build
// that the CPU runs: the widest code dispatch can choose. It is narrower than the cap when
// the build has no kernels for the wider ISAs (-tags purego has generic ones only).
func (c CPU) KernelISA(isaCap asm.ISA) asm.ISA { return c.kernelISA(isaCap, asm.Families()) }

func (c CPU) kernelISA(isaCap asm.ISA, fams []asm.Family) asm.ISA {
	best := asm.Generic
	for _, f := range fams {
		if c.CanRun(f, isaCap) && isaRank(f.ISA, c.GOARCH) > isaRank(best, c.GOARCH) {
			best = f.ISA
		}
	}
	return best
}

// CanRun reports whether family f may run on this CPU under ISA cap: its ISA is of this
// architecture, no wider than cap, and every feature it declares is present.
func (c CPU) CanRun(f asm.Family, isaCap asm.ISA) bool {
	r := isaRank(f.ISA, c.GOARCH)
	if r < 0 || r > isaRank(isaCap, c.GOARCH) {
		return false
	}
	need := f.Features | isaFeatures(f.ISA)
	return c.Features&need == need
}

// EnvISA is the environment variable that caps the ISA when Options.ISA is empty.
const EnvISA = "SPARSEGEN_ISA"

// resolveISA returns the ISA cap for opts: the option, else $SPARSEGEN_ISA, else the best
// the CPU has. Naming an ISA the CPU lacks (or of another architecture) is an error.
func (c CPU) resolveISA(opt string) (asm.ISA, string, error) {
	src := "option ISA"
	s := strings.ToLower(strings.TrimSpace(opt))
	if s == "" {
		s = strings.ToLower(strings.TrimSpace(os.Getenv(EnvISA)))
		src = "$" + EnvISA
	}
	if s == "" || s == "auto" || s == "best" {
		return c.BestISA(), "best available", nil
	}
	i, err := asm.ParseISA(s)
	if err != nil {
		return 0, "", fmt.Errorf("dispatch: %s: %w", src, err)
	}
	if !c.Supported(i) {
		return 0, "", fmt.Errorf("dispatch: %s = %q: this CPU (%s, features %v) cannot run %s code%s",
			src, s, c.GOARCH, c.Features, i, godebugHint())
	}
	return i, src + " = " + s, nil
}

func godebugHint() string {
	if g := os.Getenv("GODEBUG"); strings.Contains(g, "cpu.") {
		return " (GODEBUG=" + g + " disables some features)"
	}
	return ""
}
