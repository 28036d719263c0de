package fileio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Interop with real scipy, through the Debian python3-scipy at /usr/bin/python3 (the first
// python3 on PATH may lack it). The tests skip, saying why, when it is absent.
const systemPython = "/usr/bin/python3"

func needScipy(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		t.Skipf("interop with scipy skipped: %s not found (install python3-scipy; CI does)", systemPython)
	}
	out, err := exec.Command(systemPython, "-c", "import numpy, scipy.sparse").CombinedOutput()
	if err != nil {
		t.Skipf("interop with scipy skipped: %s cannot import numpy and scipy.sparse (install python3-scipy; CI does): %s", systemPython, strings.TrimSpace(string(out)))
	}
}

func runPython(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(systemPython, append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "python failed:\n%s", stderr.String())
	return out
}

// mulRef computes W·X in float64 from the float32 operands.
func mulRef(w, x *formats.Dense) []float64 {
	y := make([]float64, w.Rows*x.Cols)
	for i := 0; i < w.Rows; i++ {
		for k := 0; k < w.Cols; k++ {
			a := float64(w.At(i, k))
			if a == 0 {
				continue
			}
			for j := 0; j < x.Cols; j++ {
				y[i*x.Cols+j] += a * float64(x.At(k, j))
			}
		}
	}
	return y
}

const scipyLoadMul = `
import json, sys
import numpy as np
import scipy.sparse as sp
d = sys.argv[1]
out = {}
for name in sys.argv[2:]:
    a = sp.load_npz(f"{d}/{name}.npz")
    x = np.load(f"{d}/{name}.x.npy")
    y = a.astype(np.float64) @ x.astype(np.float64)
    np.save(f"{d}/{name}.y.npy", np.asarray(y, dtype=np.float64))
    info = {"format": a.format, "shape": list(a.shape), "nnz": int(a.nnz),
            "dtype": str(a.dtype), "canonical": bool(a.has_canonical_format)}
    if a.format == "bsr":
        info["blocksize"] = list(a.blocksize)
    out[name] = info
print(json.dumps(out))
`

// TestScipyLoadsWhatWeWrite: Go writes CSR and BSR npz, scipy.sparse.load_npz reads them
// and multiplies by X; the product must match Go's float64 reference.
func TestScipyLoadsWhatWeWrite(t *testing.T) {
	needScipy(t)
	rng := rand.New(rand.NewPCG(21, 22))
	dir := t.TempDir()
	type item struct {
		name   string
		m      formats.Matrix
		format string
		block  []int
	}
	var items []item
	for i, sh := range [][2]int{{17, 23}, {1, 9}, {9, 1}, {64, 48}, {5, 5}} {
		for _, compress := range []bool{false, true} {
			d := randDense(rng, sh[0], sh[1], 0.25)
			c, err := formats.CSRFromDense(d)
			require.NoError(t, err)
			name := fmt.Sprintf("csr%d_%v", i, compress)
			var buf bytes.Buffer
			require.NoError(t, WriteCSR(&buf, c, compress))
			require.NoError(t, os.WriteFile(filepath.Join(dir, name+".npz"), buf.Bytes(), 0o644))
			items = append(items, item{name, c, "csr", nil})
		}
	}
	for i, bs := range [][2]int{{1, 1}, {4, 1}, {2, 3}, {4, 4}, {8, 2}} {
		for _, compress := range []bool{false, true} {
			d := blockDense(rng, bs[0]*6, bs[1]*5, bs[0], bs[1], 0.35)
			b, err := formats.BSRFromDense(d, bs[0], bs[1])
			require.NoError(t, err)
			name := fmt.Sprintf("bsr%d_%v", i, compress)
			require.NoError(t, SaveMatrix(filepath.Join(dir, name+".npz"), b))
			if !compress {
				var buf bytes.Buffer
				require.NoError(t, WriteBSR(&buf, b, false))
				require.NoError(t, os.WriteFile(filepath.Join(dir, name+".npz"), buf.Bytes(), 0o644))
			}
			items = append(items, item{name, b, "bsr", []int{bs[0], bs[1]}})
		}
	}
	xs := map[string]*formats.Dense{}
	names := []string{}
	for _, it := range items {
		_, k := it.m.Shape()
		x := randDense(rng, k, 3, 1)
		xs[it.name] = x
		require.NoError(t, SaveNPY(filepath.Join(dir, it.name+".x.npy"), x))
		names = append(names, it.name)
	}
	out := runPython(t, scipyLoadMul, append([]string{dir}, names...)...)
	var infos map[string]struct {
		Format    string
		Shape     []int
		NNZ       int64
		DType     string
		Canonical bool
		Blocksize []int
	}
	require.NoError(t, json.Unmarshal(out, &infos))
	for _, it := range items {
		info := infos[it.name]
		rows, cols := it.m.Shape()
		assert.Equal(t, it.format, info.Format, it.name)
		assert.Equal(t, []int{rows, cols}, info.Shape, it.name)
		assert.Equal(t, "float32", info.DType, it.name)
		assert.True(t, info.Canonical, it.name)
		if it.block != nil {
			assert.Equal(t, it.block, info.Blocksize, it.name)
		}
		y, _, err := LoadNPY(filepath.Join(dir, it.name+".y.npy"))
		require.NoError(t, err)
		ref := mulRef(it.m.ToDense(), xs[it.name])
		require.Equal(t, len(ref), len(y.Data), it.name)
		for i, v := range ref {
			require.InDelta(t, v, float64(y.Data[i]), 1e-6*(1+abs(v)), "%s [%d]", it.name, i)
		}
	}
}

const scipyWrite = `
import sys
import numpy as np
import scipy.sparse as sp
d = sys.argv[1]
rng = np.random.default_rng(7)
def ref(name, dense):
    np.save(f"{d}/{name}.ref.npy", np.asarray(dense, dtype=np.float64))

# CSR with unsorted and duplicate column indices (built from raw arrays, not canonical).
data = rng.standard_normal(9)
indices = np.array([4, 1, 1, 0, 3, 2, 2, 2, 0])
indptr = np.array([0, 3, 3, 5, 9])
for comp in (False, True):
    for idt in (np.int32, np.int64):
        for vdt in (np.float32, np.float64, np.float16):
            a = sp.csr_matrix((data.astype(vdt), indices.astype(idt), indptr.astype(idt)), shape=(4, 6))
            a.indices = a.indices.astype(idt); a.indptr = a.indptr.astype(idt)  # the constructor narrows
            assert not a.has_canonical_format
            name = f"csr_messy_{int(comp)}_{np.dtype(idt).name}_{np.dtype(vdt).name}"
            sp.save_npz(f"{d}/{name}.npz", a, compressed=comp)
            ref(name, sp.csr_matrix((data.astype(vdt).astype(np.float64), indices, indptr), shape=(4, 6)).toarray())

# A canonical random CSR with int64 indices.
a = sp.random(30, 40, density=0.2, format="csr", random_state=3, dtype=np.float64)
a.indices = a.indices.astype(np.int64); a.indptr = a.indptr.astype(np.int64)
sp.save_npz(f"{d}/csr_i64.npz", a); ref("csr_i64", a.toarray())

# BSR: canonical, and with unsorted + duplicate blocks.
dense = sp.random(12, 18, density=0.3, random_state=4).toarray()
for bs in ((2, 3), (4, 1), (1, 1), (3, 6)):
    b = sp.bsr_matrix(dense, blocksize=bs)
    name = f"bsr_{bs[0]}x{bs[1]}"
    sp.save_npz(f"{d}/{name}.npz", b, compressed=False); ref(name, b.toarray())
blocks = rng.standard_normal((4, 2, 2))
b = sp.bsr_matrix((blocks, np.array([2, 0, 2, 1]), np.array([0, 3, 3, 4])), shape=(6, 6))
sp.save_npz(f"{d}/bsr_messy.npz", b); ref("bsr_messy", b.toarray())

# Dense .npy in every dtype, Fortran order, big-endian, 1-D, and a multi-array npz.
w = rng.standard_normal((5, 7))
for dt in ("<f2", "<f4", "<f8", ">f4", ">f8"):
    np.save(f"{d}/dense_{dt[1:]}_{'be' if dt[0] == '>' else 'le'}.npy", w.astype(dt))
np.save(f"{d}/dense_fortran.npy", np.asfortranarray(w.astype(np.float32)))
np.save(f"{d}/dense_fortran_f8.npy", np.asfortranarray(w))
np.save(f"{d}/dense_1d.npy", w[0].astype(np.float32))
np.save(f"{d}/dense.ref.npy", w)
np.savez(f"{d}/dense_multi.npz", weight=w.astype(np.float32), bias=w[0].astype(np.float16))
np.savez_compressed(f"{d}/dense_multi_c.npz", weight=np.asfortranarray(w), bias=w[0])
`

// TestWeReadWhatScipyWrites: scipy writes messy CSR (unsorted, duplicates, int64 indices,
// compressed or not, float16/32/64 data), BSR and dense arrays; Go reads and compares with
// scipy's own dense expansion.
func TestWeReadWhatScipyWrites(t *testing.T) {
	needScipy(t)
	dir := t.TempDir()
	runPython(t, scipyWrite, dir)
	refOf := func(name string) *formats.Dense {
		r, _, err := LoadNPY(filepath.Join(dir, name+".ref.npy"))
		require.NoError(t, err)
		return r
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.npz"))
	require.NoError(t, err)
	sparseSeen := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".npz")
		if strings.HasPrefix(name, "dense") {
			continue
		}
		sparseSeen++
		m, info, err := LoadMatrix(f, "")
		require.NoError(t, err, name)
		require.NoError(t, m.Validate(), name)
		tol := 1e-6
		if strings.HasSuffix(name, "float16") {
			tol = 1e-3
		}
		requireClose(t, refOf(name), m.ToDense(), tol)
		notes := strings.Join(info.Notes, "; ")
		switch {
		case strings.HasPrefix(name, "csr_messy"):
			assert.Equal(t, "csr", info.Layout)
			assert.Contains(t, notes, "unsorted in 2 rows", name)
			assert.Contains(t, notes, "3 duplicate entries summed", name)
			var rowPtr []int64
			if strings.HasSuffix(name, "float16") {
				// float16 data stays float16 (a CSRLP), its duplicates rounded back to f16.
				c := m.(*formats.CSRLP)
				assert.Equal(t, formats.F16, c.DType, name)
				assert.Equal(t, "<f2", info.DType, name)
				assert.Contains(t, notes, "rounded to the stored 16-bit dtype", name)
				rowPtr = c.RowPtr
			} else {
				rowPtr = m.(*formats.CSR).RowPtr
			}
			assert.Equal(t, []int64{0, 2, 2, 4, 6}, rowPtr, name)
			if strings.Contains(name, "int64") {
				assert.Equal(t, "<i8", info.IndexDType, name)
				assert.Contains(t, notes, "narrowed from <i8", name)
			} else {
				assert.Equal(t, "<i4", info.IndexDType, name)
			}
		case name == "csr_i64":
			assert.Equal(t, "<i8", info.IndexDType)
			assert.Contains(t, notes, "narrowed")
			assert.NotContains(t, notes, "unsorted")
		case name == "bsr_messy":
			assert.Contains(t, notes, "1 duplicate blocks summed")
			assert.Equal(t, []int32{0, 2, 1}, m.(*formats.BSR).BlockCol)
		case strings.HasPrefix(name, "bsr_"):
			// scipy's bsr_matrix(dense, blocksize) itself leaves block columns unsorted
			// for most block sizes (has_sorted_indices is False): sorted, never summed.
			assert.Equal(t, "bsr", info.Layout)
			assert.NotContains(t, notes, "duplicate", name)
			if name == "bsr_1x1" {
				assert.Empty(t, info.Notes, name)
			} else {
				assert.Contains(t, notes, "unsorted", name)
			}
		}
	}
	assert.Equal(t, 12+1+4+1, sparseSeen)

	w := refOf("dense")
	for _, c := range []struct {
		file  string
		tol   float64
		dtype string
		note  bool
	}{
		{"dense_f2_le.npy", 1e-3, "<f2", false}, {"dense_f4_le.npy", 1e-7, "<f4", false},
		{"dense_f8_le.npy", 1e-7, "<f8", false}, {"dense_f4_be.npy", 1e-7, ">f4", false},
		{"dense_f8_be.npy", 1e-7, ">f8", false}, {"dense_fortran.npy", 1e-7, "<f4", true},
		{"dense_fortran_f8.npy", 1e-7, "<f8", true},
	} {
		d, info, err := LoadNPY(filepath.Join(dir, c.file))
		require.NoError(t, err, c.file)
		assert.Equal(t, c.dtype, info.DType, c.file)
		assert.Equal(t, c.note, len(info.Notes) == 1, c.file)
		requireClose(t, w, d, c.tol)
	}
	row0 := &formats.Dense{Rows: 1, Cols: w.Cols, Stride: w.Cols, Data: w.Row(0)}
	d, _, err := LoadNPY(filepath.Join(dir, "dense_1d.npy"))
	require.NoError(t, err)
	requireClose(t, row0, d, 1e-7)
	for _, f := range []string{"dense_multi.npz", "dense_multi_c.npz"} {
		z, err := OpenNPZFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"weight", "bias"}, z.Names())
		m, _, err := z.Matrix("weight")
		require.NoError(t, err)
		requireClose(t, w, m.ToDense(), 1e-7)
		b, _, err := z.Dense("bias")
		require.NoError(t, err)
		requireClose(t, row0, b, 1e-3)
		_, _, err = z.Matrix("")
		assert.ErrorContains(t, err, "name the array")
		require.NoError(t, z.Close())
	}
}

const numpyReadsOurs = `
import sys
import numpy as np
d = sys.argv[1]
z = np.load(f"{d}/nm.npz", allow_pickle=False)
assert z["format"].item() in (b"nm", "nm"), z["format"]
m, k = (int(v) for v in z["shape"]); keep = int(z["keep"]); group = int(z["group"])
assert z["data"].dtype == np.float32 and z["pos"].dtype == np.uint8
out = np.zeros((m, k))
for i in range(m):
    s = 0
    for g in range(0, k, group):
        for _ in range(min(keep, k - g)):
            out[i, g + z["pos"][i, s]] += z["data"][i, s]
            s += 1
np.save(f"{d}/nm.ref.npy", out)
z = np.load(f"{d}/dense.npz", allow_pickle=False)
np.save(f"{d}/dense_npz.ref.npy", z["arr_0"].astype(np.float64))
for dt in ("<f2", "<f4", "<f8", ">f2", ">f4", ">f8"):
    a = np.load(f"{d}/w{dt[0] == '>' and 'be' or 'le'}{dt[2]}.npy", allow_pickle=False)
    assert a.dtype == np.dtype(dt), (a.dtype, dt)
    np.save(f"{d}/w{dt[0] == '>' and 'be' or 'le'}{dt[2]}.ref.npy", a.astype(np.float64))
`

// TestNumpyReadsOurFiles: numpy reads our .npy in every dtype, our dense .npz and our N:M
// npz through the documented keys, and expands them; Go compares.
func TestNumpyReadsOurFiles(t *testing.T) {
	needScipy(t)
	rng := rand.New(rand.NewPCG(41, 42))
	dir := t.TempDir()
	nd := randDense(rng, 7, 10, 1) // K = 10: a partial last group of 2 for 2:4
	for i := range nd.Data {
		if (i%10)%4 == 1 || (i%10)%4 == 2 {
			nd.Data[i] = 0
		}
	}
	nm, err := formats.NMFromDense(nd, 2, 4)
	require.NoError(t, err)
	require.NoError(t, SaveMatrix(filepath.Join(dir, "nm.npz"), nm))
	w := randDense(rng, 5, 6, 1)
	require.NoError(t, SaveMatrix(filepath.Join(dir, "dense.npz"), w))
	for _, dt := range NPYDTypes {
		var buf bytes.Buffer
		require.NoError(t, WriteNPYAs(&buf, w, dt))
		name := fmt.Sprintf("w%s%c.npy", map[byte]string{'<': "le", '>': "be"}[dt[0]], dt[2])
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644))
	}
	runPython(t, numpyReadsOurs, dir)
	ref, _, err := LoadNPY(filepath.Join(dir, "nm.ref.npy"))
	require.NoError(t, err)
	requireSameDense(t, nd, ref)
	ref, _, err = LoadNPY(filepath.Join(dir, "dense_npz.ref.npy"))
	require.NoError(t, err)
	requireSameDense(t, w, ref)
	for _, dt := range NPYDTypes {
		name := fmt.Sprintf("w%s%c.ref.npy", map[byte]string{'<': "le", '>': "be"}[dt[0]], dt[2])
		ref, _, err := LoadNPY(filepath.Join(dir, name))
		require.NoError(t, err)
		tol := 0.0
		if dt[2] == '2' {
			tol = 1e-3
		}
		requireClose(t, w, ref, tol)
	}
}
