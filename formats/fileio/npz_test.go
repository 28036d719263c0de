package fileio

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openNPZBytes(t *testing.T, b []byte) *NPZ {
	t.Helper()
	z, err := OpenNPZ(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	return z
}

func TestNPZDenseRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, compress := range []bool{false, true} {
		a := randDense(rng, 4, 7, 0.6)
		b := randDense(rng, 1, 3, 1)
		var buf bytes.Buffer
		w := NewNPZWriter(&buf, compress)
		require.NoError(t, w.WriteDense("a", a))
		require.NoError(t, w.WriteDense("bias", b))
		require.Error(t, w.WriteDense("a", a), "duplicate name")
		require.Error(t, w.WriteDense("x/y", a), "bad name")
		require.NoError(t, w.Close())
		z := openNPZBytes(t, buf.Bytes())
		assert.Equal(t, []string{"a", "bias"}, z.Names())
		list, err := z.List()
		require.NoError(t, err)
		assert.Equal(t, []ArrayInfo{{Name: "a", DType: "<f4", Shape: []int{4, 7}}, {Name: "bias", DType: "<f4", Shape: []int{1, 3}}}, list)
		got, info, err := z.Dense("a")
		require.NoError(t, err)
		requireSameDense(t, a, got)
		assert.Equal(t, "a", info.Name)
		got, _, err = z.Dense("bias")
		require.NoError(t, err)
		requireSameDense(t, b, got)
		_, _, err = z.Dense("nope")
		assert.ErrorIs(t, err, ErrFormat)
		_, _, err = z.Matrix("")
		assert.ErrorContains(t, err, "name the array")
	}
}

func TestScipyLayoutRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := [][2]int{{1, 1}, {8, 12}, {1, 40}, {40, 1}, {16, 16}, {0, 8}, {8, 0}, {33, 65}}
	for _, compress := range []bool{false, true} {
		for _, sh := range shapes {
			d := randDense(rng, sh[0], sh[1], 0.3)
			c, err := formats.CSRFromDense(d)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, WriteCSR(&buf, c, compress))
			m, info, err := openNPZBytes(t, buf.Bytes()).Matrix("")
			require.NoError(t, err)
			require.IsType(t, &formats.CSR{}, m)
			assert.Equal(t, c, m)
			assert.Empty(t, info.Notes)
			assert.Equal(t, "<i4", info.IndexDType)
			assert.Equal(t, "csr", info.Layout)
		}
		for _, bs := range [][2]int{{1, 1}, {4, 1}, {2, 4}, {4, 4}, {8, 1}} {
			d := blockDense(rng, bs[0]*5, bs[1]*3, bs[0], bs[1], 0.4)
			b, err := formats.BSRFromDense(d, bs[0], bs[1])
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, WriteBSR(&buf, b, compress))
			z := openNPZBytes(t, buf.Bytes())
			ai, err := z.Info("data")
			require.NoError(t, err)
			assert.Equal(t, []int{b.NumBlocks(), bs[0], bs[1]}, ai.Shape)
			m, info, err := z.Matrix("")
			require.NoError(t, err)
			require.IsType(t, &formats.BSR{}, m)
			requireSameDense(t, d, m.ToDense())
			assert.Equal(t, b.BlockCol, m.(*formats.BSR).BlockCol)
			assert.Empty(t, info.Notes)
		}
		for _, kg := range [][2]int{{2, 4}, {1, 4}, {2, 8}, {3, 16}} {
			for _, cols := range []int{kg[1] * 3, kg[1]*2 + 1} { // full and partial last group
				d := randDense(rng, 6, cols, 1)
				// Keep the first kg[0] of each group: an N:M-conforming matrix.
				for i := 0; i < d.Rows; i++ {
					for j := 0; j < cols; j++ {
						if j%kg[1] >= kg[0] {
							d.Data[i*cols+j] = 0
						}
					}
				}
				nm, err := formats.NMFromDense(d, kg[0], kg[1])
				require.NoError(t, err)
				var buf bytes.Buffer
				require.NoError(t, WriteNM(&buf, nm, compress))
				m, info, err := openNPZBytes(t, buf.Bytes()).Matrix("")
				require.NoError(t, err)
				assert.Equal(t, nm, m)
				assert.Equal(t, "nm", info.Layout)
			}
		}
	}
}

func TestRaggedBSRRefused(t *testing.T) {
	d := blockDense(rand.New(rand.NewPCG(1, 1)), 5, 6, 4, 4, 1)
	b, err := formats.BSRFromDense(d, 4, 4)
	require.NoError(t, err)
	var buf bytes.Buffer
	err = WriteBSR(&buf, b, true)
	require.ErrorIs(t, err, ErrRaggedBSR)
	assert.Contains(t, err.Error(), "CSR")
	err = SaveMatrix(t.TempDir()+"/w.npz", b)
	require.ErrorIs(t, err, ErrRaggedBSR)
}

// scipyLike writes an npz with the given raw arrays (for foreign layouts).
type rawArr struct {
	name  string
	dt    dtype
	shape []int
	raw   []byte
}

func npzOf(t *testing.T, compress bool, arrs ...rawArr) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewNPZWriter(&buf, compress)
	for _, a := range arrs {
		require.NoError(t, w.add(a.name, a.dt, a.shape, a.raw))
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func i64s(v ...int64) []byte { return encodeInts(dtI64, len(v), func(i int) int64 { return v[i] }) }
func f64s(v ...float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		dtype{kind: 'f', size: 8}.order().PutUint64(b[8*i:], mathFloat64bits(x))
	}
	return b
}

func ucs4(s string) []byte {
	b := make([]byte, 4*len(s))
	for i, c := range []byte(s) {
		b[4*i] = c
	}
	return b
}

func csrArrays(format []byte, fdt dtype, shape []int64, data []byte, ndata int, idt dtype, indices, indptr []int64) []rawArr {
	enc := func(v []int64) []byte { return encodeInts(idt, len(v), func(i int) int64 { return v[i] }) }
	return []rawArr{
		{"indices", idt, []int{len(indices)}, enc(indices)},
		{"indptr", idt, []int{len(indptr)}, enc(indptr)},
		{"format", fdt, []int{}, format},
		{"shape", dtI64, []int{2}, i64s(shape...)},
		{"data", dtype{kind: 'f', size: 8}, []int{ndata}, data},
	}
}

func TestCSRCanonicalization(t *testing.T) {
	// 3×4: row 0 unsorted with a duplicate (col 2 twice), row 1 empty, row 2 sorted.
	indices := []int64{3, 2, 0, 2, 1, 3}
	indptr := []int64{0, 4, 4, 6}
	data := f64s(1, 2, 3, 4, 5, 6)
	want, _ := formats.NewDense(3, 4, []float32{3, 0, 6, 1, 0, 0, 0, 0, 0, 5, 0, 6})
	for _, compress := range []bool{false, true} {
		for _, idt := range []dtype{dtI32, dtI64} {
			for _, fmtArr := range []struct {
				dt dtype
				b  []byte
			}{{dtype{kind: 'S', size: 3}, []byte("csr")}, {dtype{kind: 'U', size: 12}, ucs4("csr")}} {
				b := npzOf(t, compress, csrArrays(fmtArr.b, fmtArr.dt, []int64{3, 4}, data, 6, idt, indices, indptr)...)
				m, info, err := openNPZBytes(t, b).Matrix("")
				require.NoError(t, err)
				require.NoError(t, m.Validate())
				c := m.(*formats.CSR)
				assert.Equal(t, []int64{0, 3, 3, 5}, c.RowPtr)
				assert.Equal(t, []int32{0, 2, 3, 1, 3}, c.ColIdx)
				requireSameDense(t, want, c.ToDense())
				assert.Equal(t, "<f8", info.DType)
				joined := ""
				for _, n := range info.Notes {
					joined += n + "; "
				}
				assert.Contains(t, joined, "unsorted in 1 row")
				assert.Contains(t, joined, "1 duplicate entries summed")
				if idt.size == 8 {
					assert.Contains(t, joined, "narrowed from <i8")
				} else {
					assert.NotContains(t, joined, "narrowed")
				}
			}
		}
	}
}

func TestCSRForeignRejects(t *testing.T) {
	S3 := dtype{kind: 'S', size: 3}
	ok := func() []rawArr {
		return csrArrays([]byte("csr"), S3, []int64{2, 3}, f64s(1, 2), 2, dtI64, []int64{0, 2}, []int64{0, 1, 2})
	}
	_, _, err := openNPZBytes(t, npzOf(t, false, ok()...)).Matrix("")
	require.NoError(t, err)
	mod := func(f func([]rawArr) []rawArr) []byte { return npzOf(t, false, f(ok())...) }
	cases := map[string][]byte{
		"index out of range": mod(func(a []rawArr) []rawArr { a[0].raw = i64s(0, 3); return a }),
		"negative index":     mod(func(a []rawArr) []rawArr { a[0].raw = i64s(-1, 2); return a }),
		"huge index":         mod(func(a []rawArr) []rawArr { a[0].raw = i64s(1<<40, 2); return a }),
		"indptr decreasing":  mod(func(a []rawArr) []rawArr { a[1].raw = i64s(0, 2, 1); return a }),
		"indptr past nnz":    mod(func(a []rawArr) []rawArr { a[1].raw = i64s(0, 1, 3); return a }),
		"indptr start":       mod(func(a []rawArr) []rawArr { a[1].raw = i64s(1, 1, 2); return a }),
		"indptr length":      mod(func(a []rawArr) []rawArr { a[3].raw = i64s(5, 3); return a }),
		"shape negative":     mod(func(a []rawArr) []rawArr { a[3].raw = i64s(-2, 3); return a }),
		"shape huge K":       mod(func(a []rawArr) []rawArr { a[3].raw = i64s(2, 1<<40); return a }),
		"shape 3 values":     mod(func(a []rawArr) []rawArr { a[3].shape = []int{3}; a[3].raw = i64s(2, 3, 1); return a }),
		"data too short":     mod(func(a []rawArr) []rawArr { a[4].shape = []int{1}; a[4].raw = f64s(1); return a }),
		"int data":           mod(func(a []rawArr) []rawArr { a[4].dt = dtI64; return a }),
		"float indices":      mod(func(a []rawArr) []rawArr { a[0].dt = dtype{kind: 'f', size: 8}; return a }),
		"format csc":         mod(func(a []rawArr) []rawArr { a[2].raw = []byte("csc"); return a }),
		"format xyz":         mod(func(a []rawArr) []rawArr { a[2].raw = []byte("xyz"); return a }),
		"no indices":         mod(func(a []rawArr) []rawArr { return append(a[1:2], a[2:]...) }),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			m, _, err := openNPZBytes(t, b).Matrix("")
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, ErrFormat)
		})
	}
}

func TestBSRCanonicalization(t *testing.T) {
	// 4×4 with 2×2 blocks; block row 0 holds blocks at columns 1, 0, 1 (dup); block row 1: column 0.
	data := f64s(1, 2, 3, 4, 5, 6, 7, 8, 10, 20, 30, 40, 9, 9, 9, 9)
	arrs := []rawArr{
		{"indices", dtI64, []int{4}, i64s(1, 0, 1, 0)},
		{"indptr", dtI64, []int{3}, i64s(0, 3, 4)},
		{"format", dtype{kind: 'S', size: 3}, []int{}, []byte("bsr")},
		{"shape", dtI64, []int{2}, i64s(4, 4)},
		{"data", dtype{kind: 'f', size: 8}, []int{4, 2, 2}, data},
	}
	m, info, err := openNPZBytes(t, npzOf(t, true, arrs...)).Matrix("")
	require.NoError(t, err)
	b := m.(*formats.BSR)
	assert.Equal(t, []int32{0, 1, 0}, b.BlockCol)
	want, _ := formats.NewDense(4, 4, []float32{
		5, 6, 11, 22,
		7, 8, 33, 44,
		9, 9, 0, 0,
		9, 9, 0, 0})
	requireSameDense(t, want, b.ToDense())
	assert.Len(t, info.Notes, 3)
	// blocksize that disagrees with the data, and a shape not divisible by the block.
	bad1 := append(append([]rawArr(nil), arrs...), rawArr{"blocksize", dtI64, []int{2}, i64s(2, 1)})
	_, _, err = openNPZBytes(t, npzOf(t, false, bad1...)).Matrix("")
	assert.ErrorContains(t, err, "blocksize")
	arrs[3].raw = i64s(5, 4)
	_, _, err = openNPZBytes(t, npzOf(t, false, arrs...)).Matrix("")
	assert.ErrorContains(t, err, "multiple")
}

func TestNMForeignRejects(t *testing.T) {
	d, _ := formats.NewDense(2, 4, []float32{1, 0, 2, 0, 0, 3, 0, 4})
	nm, err := formats.NMFromDense(d, 2, 4)
	require.NoError(t, err)
	base := []rawArr{
		{"format", dtype{kind: 'S', size: 2}, []int{}, []byte("nm")},
		{"shape", dtI64, []int{2}, i64s(2, 4)},
		{"keep", dtI64, []int{}, i64s(2)},
		{"group", dtI64, []int{1}, i64s(4)},
		{"data", dtF32, []int{2, 2}, encodeFloats(dtF32, nm.Val)},
		{"pos", dtU8, []int{2, 2}, nm.Pos},
	}
	m, _, err := openNPZBytes(t, npzOf(t, false, base...)).Matrix("")
	require.NoError(t, err)
	requireSameDense(t, d, m.ToDense())
	for name, f := range map[string]func(a []rawArr){
		"keep > group":  func(a []rawArr) { a[2].raw = i64s(5) },
		"group 17":      func(a []rawArr) { a[3].raw = i64s(17) },
		"pos too large": func(a []rawArr) { a[5].raw = []byte{0, 4, 1, 3} },
		"pos order":     func(a []rawArr) { a[5].raw = []byte{2, 0, 1, 3} },
		"data shape":    func(a []rawArr) { a[4].shape = []int{4} },
		"pos dtype":     func(a []rawArr) { a[5].dt = dtype{kind: 'i', size: 1} },
	} {
		arrs := make([]rawArr, len(base))
		copy(arrs, base)
		f(arrs)
		_, _, err := openNPZBytes(t, npzOf(t, false, arrs...)).Matrix("")
		assert.ErrorIs(t, err, ErrFormat, name)
	}
}

func TestNPZTruncatedEveryOffset(t *testing.T) {
	d := randDense(rand.New(rand.NewPCG(9, 9)), 4, 5, 0.5)
	c, _ := formats.CSRFromDense(d)
	for _, compress := range []bool{false, true} {
		var buf bytes.Buffer
		require.NoError(t, WriteCSR(&buf, c, compress))
		b := buf.Bytes()
		for n := 0; n < len(b); n++ {
			m, _, err := ReadNPZMatrix(bytes.NewReader(b[:n]), int64(n), "")
			require.Error(t, err, "cut at %d of %d", n, len(b))
			require.Nil(t, m)
		}
		m, _, err := ReadNPZMatrix(bytes.NewReader(b), int64(len(b)), "")
		require.NoError(t, err)
		assert.Equal(t, c, m)
	}
}

func TestNPZCorruptCRC(t *testing.T) {
	d, _ := formats.NewDense(1, 4, []float32{1, 2, 3, 4})
	var buf bytes.Buffer
	w := NewNPZWriter(&buf, false)
	require.NoError(t, w.WriteDense("a", d))
	require.NoError(t, w.Close())
	b := buf.Bytes()
	i := bytes.Index(b, f4bytes(3))
	require.Positive(t, i)
	b[i] ^= 1
	_, _, err := openNPZBytes(t, b).Dense("a")
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrFormat))
}

// rawZip writes one deflated entry with the given compressed bytes and claimed sizes.
func rawZip(t *testing.T, name string, comp []byte, claimed uint64, crc uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(comp)), UncompressedSize64: claimed}
	w, err := zw.CreateRaw(fh)
	require.NoError(t, err)
	_, err = w.Write(comp)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func deflate(t *testing.T, parts ...[]byte) []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	for _, p := range parts {
		_, err := fw.Write(p)
		require.NoError(t, err)
	}
	require.NoError(t, fw.Close())
	return buf.Bytes()
}

func allocDuring(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestNPZBombs(t *testing.T) {
	// 1. An entry claiming 8 GiB (its npy header agrees: 2³¹ float32) from a few bytes.
	hdr := rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648,), }", nil)
	comp := deflate(t, hdr, make([]byte, 4096))
	b := rawZip(t, "w.npy", comp, uint64(len(hdr))+8<<30, 0)
	start := time.Now()
	var err error
	alloc := allocDuring(func() { _, err = OpenNPZ(bytes.NewReader(b), int64(len(b))) })
	require.ErrorContains(t, err, "decompression bomb")
	assert.Less(t, alloc, uint64(1<<20))
	assert.Less(t, time.Since(start), 5*time.Second)

	// 2. The zip header claims a small entry, but the npy header inside claims 8 GiB.
	b = rawZip(t, "w.npy", comp, uint64(len(hdr))+4096, 0)
	z, err := OpenNPZ(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	alloc = allocDuring(func() { _, _, err = z.Dense("w") })
	require.ErrorContains(t, err, "needs 8589934592 data bytes")
	assert.Less(t, alloc, uint64(1<<20))

	// 3. A stream producing 64 MiB where zip and npy claim 16 bytes of data: reads stop at
	// the claim and the extra output is an error.
	small := rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", nil)
	zeros := make([]byte, 1<<20)
	parts := [][]byte{small}
	for i := 0; i < 64; i++ {
		parts = append(parts, zeros)
	}
	comp = deflate(t, parts...)
	b = rawZip(t, "w.npy", comp, uint64(len(small))+16, crc32.ChecksumIEEE(append(small, make([]byte, 16)...)))
	z, err = OpenNPZ(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	start = time.Now()
	alloc = allocDuring(func() { _, _, err = z.Dense("w") })
	require.ErrorIs(t, err, ErrFormat)
	t.Logf("stream past its claim: %v (allocated %d bytes)", err, alloc)
	assert.Less(t, alloc, uint64(4<<20))
	assert.Less(t, time.Since(start), 5*time.Second)

	// 4. A compressed size beyond the archive.
	b = rawZip(t, "w.npy", comp[:100], 100, 0)
	// Patch the central directory's compressed size (the last occurrence of 100 as u32).
	cd := bytes.LastIndex(b, []byte("PK\x01\x02"))
	require.Positive(t, cd)
	b[cd+20], b[cd+21], b[cd+22], b[cd+23] = 0xff, 0xff, 0xff, 0x0f
	_, err = OpenNPZ(bytes.NewReader(b), int64(len(b)))
	require.Error(t, err)
	t.Logf("compressed size past the archive: %v", err)
}

func TestNPZWithoutCRCStillChecksSizes(t *testing.T) {
	for _, s := range npzSeeds() {
		b := withoutCRC(s)
		require.NotNil(t, b)
		m, _, err := ReadNPZMatrix(bytes.NewReader(b), int64(len(b)), "")
		if err != nil {
			assert.ErrorContains(t, err, "name the array") // the plain dense seed holds one array: fine
		}
		if m != nil {
			require.NoError(t, m.Validate())
		}
	}
}

// zerosNPZ is a valid npz whose one array "w" holds n float32 zeros, deflated (about
// 1028:1, under MaxDeflateRatio: what a decompression bomb really looks like).
func zerosNPZ(t *testing.T, n int) []byte {
	t.Helper()
	hdr := rawNPY(1, fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }", n), nil)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "w.npy", Method: zip.Deflate})
	require.NoError(t, err)
	_, err = w.Write(hdr)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for left := 4 * n; left > 0; left -= len(zeros) {
		_, err = w.Write(zeros[:min(left, len(zeros))])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TestNPZInflateBudget: zeros deflate just under MaxDeflateRatio, so a small archive can
// hold a huge array of them; the archive's inflate budget refuses such a member from its
// header, before its data is inflated, and counts every read against the budget.
func TestNPZInflateBudget(t *testing.T) {
	b := zerosNPZ(t, 16<<20) // 64 MiB of zeros
	require.Less(t, len(b), 128<<10, "zeros deflate at about 1000:1")
	z, err := OpenNPZWith(bytes.NewReader(b), int64(len(b)), NPZOptions{MaxInflate: 8 << 20})
	require.NoError(t, err, "the zip header's claim passes the ratio check")
	var d *formats.Dense
	alloc := allocDuring(func() { d, _, err = z.Dense("w") })
	require.ErrorIs(t, err, ErrTooLarge)
	require.Nil(t, d)
	require.ErrorContains(t, err, "budget")
	assert.Less(t, z.Inflated(), int64(1024), "refused from the .npy header, before the data")
	assert.Less(t, alloc, uint64(1<<20))

	// Within its budget the same archive reads, and the budget counts what was inflated.
	z, err = OpenNPZWith(bytes.NewReader(b), int64(len(b)), NPZOptions{MaxInflate: 65<<20 + 4096})
	require.NoError(t, err)
	d, _, err = z.Dense("w")
	require.NoError(t, err)
	require.Equal(t, 16<<20, d.Cols)
	require.Greater(t, z.Inflated(), int64(64<<20))
	// A second read of it passes the total.
	_, _, err = z.Dense("w")
	require.ErrorIs(t, err, ErrTooLarge)

	// The budget holds while inflating too: headers (Info) are counted as they stream.
	z, err = OpenNPZWith(bytes.NewReader(b), int64(len(b)), NPZOptions{MaxInflate: 20})
	require.NoError(t, err)
	_, err = z.Info("w")
	require.ErrorIs(t, err, ErrTooLarge)
	assert.LessOrEqual(t, z.Inflated(), int64(20))

	_, err = OpenNPZWith(bytes.NewReader(b), int64(len(b)), NPZOptions{MaxInflate: -1})
	require.Error(t, err)
	require.GreaterOrEqual(t, DefaultMaxInflate(), int64(256<<20))
}
