package dispatch

import "github.com/sparsegen/sparsegen/asm"

// Token-major calls on a kernel that packs X itself (asm.PanelKernel: the CSR kernels) read
// N×K X straight into the kernel's panel, transposed on the way (RunTokens), with no
// intermediate K×N copy. Each thread packs its own panel: one panel packed per call and
// shared by the threads (every chunk then reading it) was measured and removed, since on the
// 2-core Zen 5 it ran 1.2–2× slower than private panels at 2 threads (BERT-base shapes at
// 90%, 768×768×128: 125 against 180–310 µs), every line of a shared panel crossing between
// cores; with private panels 1→16 threads scaled 7.9× on a 16-core Xeon.

// tokenPanelRun computes t tokens of token-major Y (X: t×K at stride ldx, Y: t×M at stride
// ldy) with the kernel packing X itself, each thread its own panel, block by block
// (RunTokens).
func (p *Plan) tokenPanelRun(pk asm.PanelKernel, y []float32, ldy int, x []float32, ldx int, t int) error {
	threads := p.Threads()
	units := pk.Units()
	yb := p.getBuf(p.m * t)
	defer p.tokBufs.Put(yb)
	yt := *yb
	cost := pk.UnitCost()
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
