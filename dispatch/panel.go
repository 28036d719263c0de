package dispatch

import (
	"math"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/internal/extent"
)

// Shared X panels. A kernel that copies X into a panel of its own layout before computing
// (asm.PanelKernel: the CSR kernels) makes every chunk of a multi-thread call copy the whole
// panel: a cost that does not shrink with the thread count (about 5% of a one-thread BERT
// layer; 1→16 threads scaled 7.9× on the 16-core Xeon with private panels). A shared panel is
// packed once per call, its parts spread over the threads, and row chunks then run on it,
// panelChunksPerThread per thread from a shared counter. It is off by default
// (sharedPanelMinThreads): on the 2-core Zen 5 here it was slower (3072×768×128 at 90%,
// 2 threads: 682 µs shared against 545 µs private), because every line of the panel then
// crosses between cores, and reading a line another core wrote costs about what copying it
// from the shared cache does, so the gain on many cores is not certain either.
// BenchmarkSharedPanel compares both paths at any thread count; the threshold is to be set
// from it on a many-core machine.
//
// Token-major calls use the kernel's own packing either way: straight from N×K X, transposed
// on the way, with no intermediate K×N copy (RunTokens, or PackPanel on a shared panel).
const (
	panelChunksPerThread = 2
	// tokenChunkBytes is the row chunk of token-major calls (rows × tokens floats of Y).
	// Measured on 3072×768×128 at 90% (one thread): 8 KiB chunks cost 34% over
	// channel-major, 32 KiB 15%, 64 KiB to 4 MiB 10–12% (each chunk streams the whole X
	// panel again; small chunks pay that most).
	tokenChunkBytes = 128 << 10
)

// panelSlabBytes bounds one panel: columns are processed in slabs of whole tiles (a
// variable for the tests).
var panelSlabBytes = 8 << 20

// sharedPanelMinThreads is the thread count from which calls share the panel: none by
// default (see above); a variable so that benchmarks and tests can turn it on.
var sharedPanelMinThreads = math.MaxInt

// slabCols is the number of columns of one panel slab for n columns: whole tiles, at
// least one, within panelSlabBytes.
func slabCols(pk asm.PanelKernel, n int) int {
	t := pk.PanelTile()
	tiles := max(1, panelSlabBytes/4/max(pk.PanelLen(1), 1))
	return max(1, min(n, tiles*t))
}

// panelChunks is the number of row chunks of a shared-panel call of n columns:
// panelChunksPerThread per thread, none below minChunkWork, none above chunkWork.
func panelChunks(k asm.Kernel, n, threads int) int {
	cost := k.UnitCost()
	work := extent.MulSat(cost[len(cost)-1], int64(n))
	nch := min(int64(panelChunksPerThread*threads), max(1, work/minChunkWork))
	return int(max(nch, ceilDiv(work, chunkWork), 1))
}

// usePanel reports whether a channel-major call of n columns runs on a shared panel: the
// kernel has one, and rows alone give every thread work (else N is split, see run).
func usePanel(k asm.Kernel, n, threads int) (asm.PanelKernel, bool) {
	pk, ok := k.(asm.PanelKernel)
	if !ok || threads < max(2, sharedPanelMinThreads) || k.Units() < threads {
		return nil, false
	}
	return pk, panelChunks(k, n, threads) > 1
}

// runPanel computes channel-major Y for batch items on a shared panel per item and slab.
func (p *Plan) runPanel(pk asm.PanelKernel, y []float32, ldy, strideY int, x []float32, ldx, strideX int, n, batch int) error {
	threads := p.Threads()
	sc := slabCols(pk, n)
	bp := p.getBuf(pk.PanelLen(min(sc, n)))
	defer p.tokBufs.Put(bp)
	panel := *bp
	for b := 0; b < batch; b++ {
		for n0 := 0; n0 < n; n0 += sc {
			w := min(sc, n-n0)
			xs, ys := x[b*strideX+n0:], y[b*strideY+n0:]
			if err := parallel(threads, pk.PanelParts(w), func(part int) error {
				return pk.PackPanel(panel, part, xs, ldx, w, false)
			}); err != nil {
				return err
			}
			rows := rowCuts(pk.UnitCost(), panelChunks(pk, w, threads))
			if err := parallel(threads, len(rows)-1, func(r int) error {
				return pk.RunPanel(rows[r], rows[r+1], panel, w, ys, ldy, p.epiP)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// tokenPanelRun computes t tokens of token-major Y (X: t×K at stride ldx, Y: t×M at stride
// ldy) with the kernel packing X itself: from sharedPanelMinThreads threads on into one
// shared panel, rows then running in pieces of about tokenChunkBytes of Y, each transposed
// into Y as soon as the kernel wrote it; below that, each thread packs its own, block by
// block (RunTokens).
func (p *Plan) tokenPanelRun(pk asm.PanelKernel, y []float32, ldy int, x []float32, ldx int, t int) error {
	threads := p.Threads()
	units := pk.Units()
	yb := p.getBuf(p.m * t)
	defer p.tokBufs.Put(yb)
	yt := *yb
	// piece runs units [u0, u1) on panel and moves their rows into Y.
	piece := func(panel []float32, u0, u1 int) error {
		r0, _ := pk.UnitRows(u0)
		_, r1 := pk.UnitRows(u1 - 1)
		return p.throughChannelMajor(y[r0:], ldy, yt[r0*t:], t, r1-r0, t, func() error {
			return pk.RunPanel(u0, u1, panel, t, yt, t, p.epiP)
		})
	}
	pieces := max(1, p.m*t*4/tokenChunkBytes)
	cost := pk.UnitCost()
	if threads >= max(2, sharedPanelMinThreads) && units >= threads {
		bp := p.getBuf(pk.PanelLen(t))
		defer p.tokBufs.Put(bp)
		panel := *bp
		if err := parallel(threads, pk.PanelParts(t), func(part int) error {
			return pk.PackPanel(panel, part, x, ldx, t, true)
		}); err != nil {
			return err
		}
		cuts := rowCuts(cost, max(threads*panelChunksPerThread, pieces))
		return parallel(threads, len(cuts)-1, func(r int) error { return piece(panel, cuts[r], cuts[r+1]) })
	}
	// Private: each thread runs its rows in one call that packs X block by block (one K
	// block's panel stays in cache), then moves its rows into Y. Against rows in pieces of
	// tokenChunkBytes on a whole private panel, timed interleaved: 3072×768×128 at 90%
	// 1.06–1.07× channel-major (pieces 1.10–1.12×) at one thread, 768×3072×128 1.10–1.11×
	// (1.16–1.23×); at two threads 1.08–1.23× (1.12–1.38×).
	if threads > 1 && t >= 2*colAlign && 2*int64(p.k)*int64(t)*4 >= pk.PackedBytes() {
		// Split the tokens: each thread transposes only its tokens of X and runs every row
		// (the same kernel on fewer columns: bitwise the same result). It reads W once per
		// thread instead of transposing all of X per thread, so it pays where X is not
		// small against W. Timed interleaved at 2 threads, 90%: 768×768×128 1.08–1.10×
		// channel-major (split by rows 1.20–1.21×), 768×3072×128 1.03–1.06× (1.07–1.11×);
		// 3072×768×128 (X a quarter of W) stays split by rows.
		tw := ((t+threads-1)/threads + colAlign - 1) / colAlign * colAlign
		return parallel(threads, (t+tw-1)/tw, func(c int) error {
			t0 := c * tw
			w := min(tw, t-t0)
			// yt holds this chunk's M×w block at offset t0·M (chunks do not overlap).
			ys := yt[t0*p.m : t0*p.m+p.m*w]
			return p.throughChannelMajor(y[t0*ldy:], ldy, ys, w, p.m, w, func() error {
				return pk.RunTokens(0, units, x[t0*ldx:], ldx, ys, w, w, p.epiP)
			})
		})
	}
	cuts := rowCuts(cost, threads)
	return parallel(threads, len(cuts)-1, func(r int) error {
		u0, u1 := cuts[r], cuts[r+1]
		r0, _ := pk.UnitRows(u0)
		_, r1 := pk.UnitRows(u1 - 1)
		return p.throughChannelMajor(y[r0:], ldy, yt[r0*t:], t, r1-r0, t, func() error {
			return pk.RunTokens(u0, u1, x, ldx, yt, t, t, p.epiP)
		})
	})
}

// throughChannelMajor computes a rows×tokens block of token-major Y (y: tokens×rows at
// stride ldy) in its channel-major form ys (rows×tokens at stride ldys), which run fills:
// with Accumulate, y's block is first transposed into ys; the result is transposed back.
func (p *Plan) throughChannelMajor(y []float32, ldy int, ys []float32, ldys, rows, tokens int, run func() error) error {
	if p.epi.Accumulate {
		if err := p.transpose(ys, ldys, y, ldy, tokens, rows); err != nil {
			return err
		}
	}
	if err := run(); err != nil {
		return err
	}
	return p.transpose(y, ldy, ys, ldys, rows, tokens)
}

// transpose runs asm's transpose under the plan's ISA cap.
func (p *Plan) transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) error {
	return asm.TransposeUpTo(p.isa, dst, ldd, src, lds, rows, cols)
}
