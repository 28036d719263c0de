package asm

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/sparsegen/sparsegen/internal/sysmem"
)

// readLoop is a generated read-bandwidth loop (gen/kernels/read.go): it reads streams
// streams stride bytes apart from p, blocks blocks of blockBytes in all (blockBytes/streams
// from each stream per block), and stores the lane sums at out (one vector).
type readLoop struct {
	isa        ISA
	run        func(p *float32, stride, blocks int, out *float32)
	blockBytes int
	streams    int
	features   Feature
}

// readLoops lists the generated read loops, widest first; the ISA files fill it in init.
var readLoops []readLoop

// readBlockBytes is the granule of every read buffer: a multiple of every loop's block.
const readBlockBytes = 512

// hostReadLoop returns the widest read loop this CPU runs, or ok = false (pure Go then).
func hostReadLoop() (readLoop, bool) {
	for _, l := range readLoops {
		if l.features&^hostFeatures() == 0 {
			return l, true
		}
	}
	return readLoop{}, false
}

// ReadISA is the ISA of the loop ReadBandwidth and L2ReadBandwidth run: the widest with a
// generated read loop that this CPU runs, else Generic (a pure-Go loop of 8-byte loads).
func ReadISA() ISA {
	if l, ok := hostReadLoop(); ok {
		return l.isa
	}
	return Generic
}

// Default and bounds of the read buffers when the caches or free memory are unknown.
const (
	defaultMemReadBytes = 256 << 20 // several times any last-level cache of one core's domain
	maxMemReadBytes     = 2 << 30
	minMemReadBytes     = 16 << 20
	defaultL2ReadBytes  = 256 << 10 // half a 512 KiB L2
)

// ReadBufferBytes returns the sizes of the buffers ReadBandwidth (mem) and L2ReadBandwidth
// (l2) stream. mem is 4× the largest cache of CPU 0 in /sys/devices/system/cpu/cpu0/cache,
// at least 256 MiB (the size where those are unknown), at most 2 GiB and a quarter of
// MemAvailable in /proc/meminfo; l2 is half the level-2 cache there (else 256 KiB).
func ReadBufferBytes() (mem, l2 int64) {
	mem, l2 = defaultMemReadBytes, defaultL2ReadBytes
	caches := sysmem.CacheSizes(sysmem.CPU0Caches)
	if c := caches[len(caches)-1]; c > 0 {
		mem = max(mem, 4*c)
	}
	if caches[2] > 0 {
		l2 = caches[2] / 2
	}
	mem = min(mem, maxMemReadBytes)
	if avail := memAvailable("/proc/meminfo"); avail > 0 {
		mem = min(mem, avail/4)
	}
	mem = max(mem, minMemReadBytes)
	return roundDown(mem, readBlockBytes), max(roundDown(l2, readBlockBytes), readBlockBytes)
}

func roundDown(n, m int64) int64 { return n / m * m }

// memAvailable returns MemAvailable from a /proc/meminfo file in bytes (0 if unknown).
func memAvailable(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "MemAvailable:" && fields[2] == "kB" {
			if n, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return n << 10
			}
		}
	}
	return 0
}

// ReadBandwidth measures one core's read bandwidth from memory in GB/s (10⁹ bytes/s): the
// best of several passes over a buffer of ReadBufferBytes' mem bytes (far larger than the
// last-level cache) with ReadISA's loop, a sum of every vector, over about d (at least
// 10 ms, plus allocating and touching the buffer once). Run it on an otherwise idle machine:
// other cores share the memory controller. The result is the ceiling of any kernel bound by
// streaming its operands from memory (a dense GEMV at N = 1 reads each weight once).
func ReadBandwidth(d time.Duration) (float64, error) {
	mem, _ := ReadBufferBytes()
	return measureRead(mem, d)
}

// L2ReadBandwidth is ReadBandwidth over a buffer of half the L2 cache (ReadBufferBytes' l2),
// read many times per pass: one core's read rate from its L2.
func L2ReadBandwidth(d time.Duration) (float64, error) {
	_, l2 := ReadBufferBytes()
	return measureRead(l2, d)
}

// readSink keeps the loops' sums observable.
var readSink float32

// measureRead streams a fresh buffer of bytes (a multiple of readBlockBytes) over about d
// and returns the best GB/s of its timed runs; each run reads the buffer reps times, reps
// chosen so that a run reads at least 64 MiB.
func measureRead(bytes int64, d time.Duration) (float64, error) {
	if bytes <= 0 || bytes%readBlockBytes != 0 {
		return 0, fmt.Errorf("asm: read buffer of %d bytes is not a positive multiple of %d", bytes, readBlockBytes)
	}
	if int64(int(bytes)) != bytes {
		return 0, fmt.Errorf("asm: read buffer of %d bytes is too large for this platform", bytes)
	}
	buf := alignedFloats(int(bytes / 4))
	for i := 0; i < len(buf); i += 1024 { // write every page: an untouched one reads as the shared zero page
		buf[i] = 1
	}
	reps := max(1, int((64<<20)/bytes))
	pass := readPass(buf)
	pass() // warm up: TLB, caches (for a small buffer), the loop's code
	d = max(d, 10*time.Millisecond)
	best := 0.0
	for runs, deadline := 0, time.Now().Add(d); runs < 3 || time.Now().Before(deadline); runs++ {
		t0 := time.Now()
		for range reps {
			pass()
		}
		if el := time.Since(t0).Seconds(); el > 0 {
			best = max(best, float64(bytes)*float64(reps)/el/1e9)
		}
	}
	if !(best > 0) || math.IsInf(best, 0) {
		return 0, fmt.Errorf("asm: read bandwidth not measurable (%v)", best)
	}
	return best, nil
}

// readPass returns a function that reads all of buf (a multiple of readBlockBytes) once with
// the host's read loop, its quarters as the loop's streams (or with readGo), and stores a
// sum in readSink.
func readPass(buf []float32) func() {
	if l, ok := hostReadLoop(); ok {
		var out [16]float32
		bytes := len(buf) * 4
		return func() {
			l.run(unsafe.SliceData(buf), bytes/l.streams, bytes/l.blockBytes, &out[0])
			readSink += out[0]
		}
	}
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/2)
	return func() { readSink += float32(readGo(words)) }
}

// readGo is the pure-Go read loop: eight independent sums of 8-byte words (the widest loads
// Go code makes without assembly), two from each quarter of w per step, as the generated
// loops read four streams; len(w) is a multiple of 8.
func readGo(w []uint64) uint64 {
	q := len(w) / 4
	a, b, c, d := w[:q], w[q:2*q], w[2*q:3*q], w[3*q:4*q]
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	for i := 0; i+2 <= q; i += 2 {
		s0 += a[i]
		s1 += a[i+1]
		s2 += b[i]
		s3 += b[i+1]
		s4 += c[i]
		s5 += c[i+1]
		s6 += d[i]
		s7 += d[i+1]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}
