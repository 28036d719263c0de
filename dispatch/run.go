package dispatch

import (
	"fmt"
	"sort"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/internal/extent"
	"github.com/sparsegen/sparsegen/ref"
)

// A call is split in one chunk per thread, balanced by UnitCost (static: no dynamic
// over-decomposition, because kernels may pack an X panel per Run call, a cost that grows
// with the number of calls; even the N:M kernels, which read X in place, scaled worse
// with more chunks: 768×3072×128 at 2:4 on 2 threads, 1.87× with one chunk per thread,
// 1.72× with four, 1.53× with eight, timed interleaved). Kernels keep each assembly call short themselves (DESIGN §6:
// they chunk rows or tiles inside Run); chunkWork only caps a chunk for very large calls.
// Below minChunkWork cost·columns a chunk is not worth a thread. When W has fewer units
// than the call has chunks, N is split too, in multiples of colAlign columns.
const (
	chunkWork       = 1 << 40
	minChunkWork    = 1 << 14
	chunksPerThread = 1
	colAlign        = 16
)

// partition cuts units [0, U) × columns [0, n) into row and column chunks.
type partition struct {
	rows []int // unit boundaries, len = row chunks + 1
	cols []int // column boundaries, len = column chunks + 1
}

func (pt *partition) chunks() int { return (len(pt.rows) - 1) * (len(pt.cols) - 1) }

func makePartition(kern asm.Kernel, n, threads, perThread int) partition {
	cost := kern.UnitCost()
	units := len(cost) - 1
	total := cost[units]
	work := extent.MulSat(total, int64(n))
	nch := int(ceilDiv(work, chunkWork))
	if threads > 1 {
		nch = max(nch, perThread*threads)
		nch = min(nch, int(max(1, work/minChunkWork)))
	}
	nch = max(nch, 1)
	rowCh := min(nch, max(units, 1))
	colCh := 1
	if rowCh < nch && n >= 2*colAlign {
		colCh = min((nch+rowCh-1)/rowCh, n/colAlign)
	}
	var pt partition
	pt.rows = rowCuts(cost, rowCh)
	pt.cols = make([]int, 0, colCh+1)
	w := ((n+colCh-1)/colCh + colAlign - 1) / colAlign * colAlign
	for c := 0; c < n; c += w {
		pt.cols = append(pt.cols, c)
	}
	pt.cols = append(pt.cols, n)
	if n == 0 {
		pt.cols = []int{0, 0}
	}
	return pt
}

// ceilDiv is ⌈a/b⌉ for a ≥ 0, b > 0, without overflow near MaxInt.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// rowCuts cuts units [0, U) into at most chunks ranges of about equal cost (prefix sums
// cost, len U+1, from any base); it returns the boundaries, first 0, last U.
func rowCuts(cost []int64, chunks int) []int {
	units := len(cost) - 1
	base, total := cost[0], cost[units]-cost[0]
	chunks = max(1, min(chunks, units))
	cuts := make([]int, 0, chunks+1)
	cuts = append(cuts, 0)
	for i := 1; i < chunks; i++ {
		want := base + total*int64(i)/int64(chunks)
		u := sort.Search(units+1, func(j int) bool { return cost[j] >= want })
		if u > cuts[len(cuts)-1] && u < units {
			cuts = append(cuts, u)
		}
	}
	return append(cuts, units)
}

// Mul computes Y = epi(W·X) in channel-major layout: X is K×N (row stride ldx ≥ N),
// Y is M×N (ldy ≥ N). It checks every length and stride before any kernel runs. NaN and
// ±Inf follow one rule, scipy.sparse's, whatever the kernel, N, layout or thread count
// (see nonfinite.go): stored weights multiply by IEEE rules, absent ones and the zeros
// packing adds contribute nothing; a call with a non-finite X takes a slower path.
func (p *Plan) Mul(y []float32, ldy int, x []float32, ldx int, n int) error {
	if err := p.checkCM(y, ldy, x, ldx, n); err != nil {
		return err
	}
	if n == 0 || p.m == 0 {
		return nil
	}
	if !finite(x, ldx, p.k, n) {
		return p.refMul(y, ldy, x, ldx, n) // the NaN/Inf rule (nonfinite.go)
	}
	kern, err := p.kernel(p.choiceFor(n))
	if err != nil {
		return err
	}
	return p.run(kern, y, ldy, 0, x, ldx, 0, n, 1)
}

// MulBatch runs Mul on batch items: item b reads x[b·strideX:] and writes y[b·strideY:].
// X items may overlap (strideX = 0 reuses one X); Y items must not: either strideY ≥ the
// span of one item ((M−1)·ldy + N), or items interleave within rows (strideY ≥ N and
// (batch−1)·strideY + N ≤ ldy).
func (p *Plan) MulBatch(y []float32, ldy, strideY int, x []float32, ldx, strideX int, n, batch int) error {
	if p == nil {
		return ErrNilPlan
	}
	if p.closed.Load() {
		return ErrClosed
	}
	if batch < 0 {
		return fmt.Errorf("%w: negative batch %d", ref.ErrShape, batch)
	}
	if strideX < 0 || strideY < 0 {
		return fmt.Errorf("%w: negative batch stride (strideX %d, strideY %d)", ref.ErrShape, strideX, strideY)
	}
	if err := checkOperand("X", p.k, n, ldx, int64(len(x)), int64(strideX), batch); err != nil {
		return err
	}
	if err := checkOperand("Y", p.m, n, ldy, int64(len(y)), int64(strideY), batch); err != nil {
		return err
	}
	if batch > 1 && n > 0 && p.m > 0 {
		// checkOperand computed both spans without overflow, and both fit in len(y).
		span, _ := extent.Span(int64(p.m), int64(n), int64(ldy))
		rowSpan, _ := extent.Items(int64(n), int64(strideY), int64(batch))
		interleaved := strideY >= n && rowSpan <= int64(ldy)
		if int64(strideY) < span && !interleaved {
			return fmt.Errorf("%w: Y items overlap (strideY %d, item span %d, ldy %d, batch %d)", ref.ErrShape, strideY, span, ldy, batch)
		}
	}
	if n == 0 || p.m == 0 || batch == 0 {
		return nil
	}
	for b := 0; b < batch; b++ {
		if !finite(x[b*strideX:], ldx, p.k, n) { // the NaN/Inf rule (nonfinite.go)
			for b := 0; b < batch; b++ {
				if err := p.refMul(y[b*strideY:], ldy, x[b*strideX:], ldx, n); err != nil {
					return err
				}
			}
			return nil
		}
	}
	kern, err := p.kernel(p.choiceFor(n))
	if err != nil {
		return err
	}
	return p.run(kern, y, ldy, strideY, x, ldx, strideX, n, batch)
}

func (p *Plan) checkCM(y []float32, ldy int, x []float32, ldx int, n int) error {
	if p == nil {
		return ErrNilPlan
	}
	if p.closed.Load() {
		return ErrClosed
	}
	if err := checkOperand("X", p.k, n, ldx, int64(len(x)), 0, 1); err != nil {
		return err
	}
	return checkOperand("Y", p.m, n, ldy, int64(len(y)), 0, 1)
}

// checkOperand checks a rows×n operand with row stride ld in a slice of length l holding
// batch items stride apart. Every span is computed by package extent, without overflow: a
// stride or count so large that the span exceeds MaxInt is refused, never wrapped.
func checkOperand(name string, rows, n, ld int, l, stride int64, batch int) error {
	if n < 0 {
		return fmt.Errorf("%w: negative N = %d", ref.ErrShape, n)
	}
	if ld < n {
		return fmt.Errorf("%w: %s stride %d < N = %d", ref.ErrShape, name, ld, n)
	}
	if n == 0 || rows == 0 || batch == 0 {
		return nil
	}
	one, ok := extent.Span(int64(rows), int64(n), int64(ld))
	need := one
	if ok {
		need, ok = extent.Items(one, stride, int64(batch))
	}
	if !ok || l < need {
		return fmt.Errorf("%w: %s has %d values, %d×%d with stride %d (×%d items %d apart) needs %s", ref.ErrShape, name, l, rows, n, ld, batch, stride, extent.Need(need, ok))
	}
	return nil
}

// run executes kern over batch items on the pool, split by the plan's partition.
func (p *Plan) run(kern asm.Kernel, y []float32, ldy, strideY int, x []float32, ldx, strideX int, n, batch int) error {
	units := kern.Units()
	threads := p.Threads()
	if threads <= 1 && batch == 1 && extent.MulSat(kern.UnitCost()[units], int64(n)) <= chunkWork {
		return kern.Run(0, units, x, ldx, y, ldy, n, p.epiP) // one chunk: no partition
	}
	pt := makePartition(kern, n, threads, chunksPerThread)
	per := pt.chunks()
	colCh := len(pt.cols) - 1
	return parallel(threads, per*batch, func(c int) error {
		b, c := c/per, c%per
		r, cc := c/colCh, c%colCh
		c0, c1 := pt.cols[cc], pt.cols[cc+1]
		xo, yo := b*strideX+c0, b*strideY+c0
		return kern.Run(pt.rows[r], pt.rows[r+1], x[xo:], ldx, y[yo:], ldy, c1-c0, p.epiP)
	})
}

// tokenPanelTokens is the token panel of kernels with their own X panel (asm.PanelKernel).
const tokenPanelTokens = 128

// tokenPanel is the number of tokens MulTokens transposes at a time: 128, fewer when K is
// large so that a K×T panel of X stays within ~512 KiB (L2).
func tokenPanel(k int) int {
	t := 128
	for t > colAlign && k*t*4 > 512<<10 {
		t /= 2
	}
	return t
}

// MulTokens computes Y = epi(X·Wᵀ) in token-major layout: X is N×K (row stride ldx ≥ K),
// Y is N×M (ldy ≥ M). Each panel of up to 128 tokens of X (fewer for a large K) is
// transposed into a pooled buffer just before use, the kernel the plan has for the
// panel's width computes it in channel-major order, and the result is transposed into Y
// (with Accumulate, Y's panel is first transposed in). Panels run in parallel; with fewer
// panels than threads, one panel at a time with the rows of W split across threads. The
// panels depend on K only, so the result does not depend on the thread count.
func (p *Plan) MulTokens(y []float32, ldy int, x []float32, ldx int, n int) error {
	if p == nil {
		return ErrNilPlan
	}
	if p.closed.Load() {
		return ErrClosed
	}
	if n < 0 {
		return fmt.Errorf("%w: negative N = %d", ref.ErrShape, n)
	}
	if err := checkOperand("X (token-major)", n, p.k, ldx, int64(len(x)), 0, 1); err != nil {
		return err
	}
	if err := checkOperand("Y (token-major)", n, p.m, ldy, int64(len(y)), 0, 1); err != nil {
		return err
	}
	if n == 0 || p.m == 0 {
		return nil
	}
	if !finite(x, ldx, n, p.k) {
		return p.refTokens(y, ldy, x, ldx, n) // the NaN/Inf rule (nonfinite.go)
	}
	panel := p.panelCap
	// Kernels with a panel: token panels as wide as their channel-major calls' tiles
	// (tokenPanelTokens, whatever K), packed from X directly, one after the other, rows
	// split across threads.
	for n > 0 {
		t := min(tokenPanelTokens, n)
		kern, err := p.kernel(p.choiceFor(t))
		if err != nil {
			return err
		}
		pk, ok := kern.(asm.PanelKernel)
		if !ok {
			break // the rest (a last, narrower panel may run another kernel) below
		}
		if err := p.tokenPanelRun(pk, y, ldy, x, ldx, t); err != nil {
			return err
		}
		if t == n {
			return nil
		}
		x, y, n = x[t*ldx:], y[t*ldy:], n-t
	}
	panels := (n + panel - 1) / panel
	if threads := p.Threads(); panels >= threads || threads <= 1 {
		// Panel-parallel: each chunk owns whole panels.
		return parallel(threads, panels, func(pi int) error {
			t0 := pi * panel
			return p.tokenRows(y[t0*ldy:], ldy, x[t0*ldx:], ldx, min(panel, n-t0), 1)
		})
	}
	// Fewer panels than threads: panel after panel (the same panels as above, so the
	// result does not depend on the thread count), each transposed once and split by rows;
	// each chunk transposes its own rows of the result into Y.
	for t0 := 0; t0 < n; t0 += panel {
		if err := p.tokenRows(y[t0*ldy:], ldy, x[t0*ldx:], ldx, min(panel, n-t0), p.Threads()); err != nil {
			return err
		}
	}
	return nil
}

// tokenRows computes n tokens of token-major Y through channel-major buffers: the tokens of
// X transposed once, then the rows of W split over threads (one thread: in chunks of at
// most chunkWork), each chunk moving its rows of the result into Y.
func (p *Plan) tokenRows(y []float32, ldy int, x []float32, ldx int, n, threads int) error {
	kern, err := p.kernel(p.choiceFor(n))
	if err != nil {
		return err
	}
	xt := p.getBuf(p.k * n)
	defer p.tokBufs.Put(xt)
	if err := p.transpose(*xt, n, x, ldx, n, p.k); err != nil {
		return err
	}
	yt := p.getBuf(p.m * n)
	defer p.tokBufs.Put(yt)
	ys := *yt
	pt := makePartition(kern, n, threads, chunksPerThread)
	return parallel(threads, len(pt.rows)-1, func(r int) error {
		u0, u1 := pt.rows[r], pt.rows[r+1]
		r0, _ := kern.UnitRows(u0)
		_, r1 := kern.UnitRows(u1 - 1)
		return p.throughChannelMajor(y[r0:], ldy, ys[r0*n:], n, r1-r0, n, func() error {
			return kern.Run(u0, u1, *xt, n, ys, n, n, p.epiP)
		})
	})
}

func (p *Plan) getBuf(size int) *[]float32 {
	if b, ok := p.tokBufs.Get().(*[]float32); ok {
		if cap(*b) >= size {
			*b = (*b)[:size]
			return b
		}
	}
	b := make([]float32, size)
	return &b
}
