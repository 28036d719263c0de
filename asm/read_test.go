package asm

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/sparsegen/sparsegen/internal/sysmem"
)

// TestReadLoops checks that every read loop this CPU runs, and readGo, reads every byte it
// should: the sum of its lanes is the sum of what its streams cover (small integers: exact).
func TestReadLoops(t *testing.T) {
	buf := alignedFloats(3 * readBlockBytes / 4)
	for i := range buf {
		buf[i] = float32(i%7 + 1)
	}
	for _, l := range readLoops {
		if l.features&^hostFeatures() != 0 {
			continue
		}
		stride := len(buf) * 4 / l.streams
		for _, blocks := range []int{0, 1, len(buf) * 4 / l.blockBytes} {
			var out [16]float32
			out[0] = 99
			l.run(unsafe.SliceData(buf), stride, blocks, &out[0])
			got, want := 0.0, 0.0
			for _, v := range out[:l.blockBytes/32] { // one vector: a block is 8 vectors of 4-byte lanes
				got += float64(v)
			}
			for s := range l.streams {
				at := s * stride / 4
				for _, v := range buf[at : at+blocks*l.blockBytes/l.streams/4] {
					want += float64(v)
				}
			}
			if got != want {
				t.Errorf("%v, %d blocks: lane sum %v, want %v", l.isa, blocks, got, want)
			}
		}
	}
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/2)
	var w uint64
	for _, v := range words {
		w += v
	}
	if got := readGo(words); got != w {
		t.Errorf("readGo: %d, want %d", got, w)
	}
}

// TestReadBandwidth: positive finite rates, quickly (no speed asserted). The memory rate
// runs on the smallest buffer ReadBufferBytes allows (touching 256 MiB takes a second in a
// VM); cmd/sparsegen's TestInfo runs ReadBandwidth itself.
func TestReadBandwidth(t *testing.T) {
	mem, l2 := ReadBufferBytes()
	if mem < minMemReadBytes || mem > maxMemReadBytes || mem%readBlockBytes != 0 || l2 <= 0 || l2%readBlockBytes != 0 {
		t.Fatalf("buffers %d, %d bytes", mem, l2)
	}
	t0 := time.Now()
	g, err := measureRead(minMemReadBytes, time.Millisecond)
	if err != nil || !(g > 0) || math.IsInf(g, 0) {
		t.Fatalf("measureRead: %v, %v", g, err)
	}
	g2, err := L2ReadBandwidth(time.Millisecond)
	if err != nil || !(g2 > 0) || math.IsInf(g2, 0) {
		t.Fatalf("L2ReadBandwidth: %v, %v", g2, err)
	}
	t.Logf("%v loop: %.1f GB/s over %d MiB, %.1f GB/s from L2 (%d KiB), in %v; ReadBandwidth would read %d MiB",
		ReadISA(), g, minMemReadBytes>>20, g2, l2>>10, time.Since(t0).Round(time.Millisecond), mem>>20)
	for _, b := range []int64{0, 100, -readBlockBytes} {
		if _, err := measureRead(b, time.Millisecond); err == nil {
			t.Errorf("a buffer of %d bytes: want an error", b)
		}
	}
}

func TestReadBufferSources(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct{ level, typ, size string }{
		{"1", "Data", "48K"}, {"1", "Instruction", "32K"}, {"2", "Unified", "1024K"}, {"3", "Unified", "32768K"},
	} {
		d := filepath.Join(dir, fmt.Sprintf("index%d", i))
		must(t, os.Mkdir(d, 0o755))
		for f, v := range map[string]string{"level": c.level, "type": c.typ, "size": c.size + "\n"} {
			must(t, os.WriteFile(filepath.Join(d, f), []byte(v), 0o644))
		}
	}
	if got, want := sysmem.CacheSizes(dir), [5]int64{0, 48 << 10, 1 << 20, 32 << 20, 32 << 20}; got != want {
		t.Errorf("CacheSizes: %v, want %v", got, want)
	}
	if got := sysmem.CacheSizes(filepath.Join(dir, "none")); got != [5]int64{} {
		t.Errorf("no directory: %v", got)
	}
	for s, want := range map[string]int64{"48K": 48 << 10, "32M": 32 << 20, "1G": 1 << 30, "512": 512, "": 0, "x": 0, "-1K": 0} {
		if got := sysmem.ParseCacheSize(s); got != want {
			t.Errorf("ParseCacheSize(%q) = %d, want %d", s, got, want)
		}
	}
	mi := filepath.Join(dir, "meminfo")
	must(t, os.WriteFile(mi, []byte("MemTotal:       24000000 kB\nMemAvailable:   1000 kB\n"), 0o644))
	if got := memAvailable(mi); got != 1000<<10 {
		t.Errorf("memAvailable: %d", got)
	}
	if got := memAvailable(filepath.Join(dir, "none")); got != 0 {
		t.Errorf("memAvailable without a file: %d", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRead times each read loop this CPU runs and readGo over the memory and L2
// buffers of ReadBufferBytes; the MB/s column is the read bandwidth.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench Read -benchtime 20x
func BenchmarkRead(b *testing.B) {
	mem, l2 := ReadBufferBytes()
	for _, sz := range []struct {
		name  string
		bytes int64
	}{{"mem", mem}, {"L2", l2}} {
		buf := alignedFloats(int(sz.bytes / 4))
		for i := range buf {
			buf[i] = 1
		}
		loops := map[string]func(){}
		var names []string
		for _, l := range readLoops {
			if l.features&^hostFeatures() == 0 {
				var out [16]float32
				stride, blocks := len(buf)*4/l.streams, len(buf)*4/l.blockBytes
				run := l.run
				loops[l.isa.String()] = func() { run(unsafe.SliceData(buf), stride, blocks, &out[0]); readSink += out[0] }
				names = append(names, l.isa.String())
			}
		}
		words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/2)
		loops["go"] = func() { readSink += float32(readGo(words)) }
		names = append(names, "go")
		for _, n := range names {
			b.Run(fmt.Sprintf("%s=%dKiB/%s", sz.name, sz.bytes>>10, n), func(b *testing.B) {
				b.SetBytes(sz.bytes)
				for range b.N {
					loops[n]()
				}
			})
		}
	}
}
