package fileio

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// Each fuzz target asserts: no panic, every error wraps ErrFormat, and every matrix
// returned validates. Seeds are valid files of every kind the reader accepts.

func seedDense() *formats.Dense {
	return randDense(rand.New(rand.NewPCG(31, 32)), 3, 5, 0.6)
}

func FuzzReadNPY(f *testing.F) {
	d := seedDense()
	for _, descr := range NPYDTypes {
		var b bytes.Buffer
		_ = WriteNPYAs(&b, d, descr)
		f.Add(b.Bytes())
	}
	f.Add(rawNPY(2, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4bytes(1, 2, 3, 4)))
	f.Add(rawNPY(3, `{"descr": "<f2", "shape": (3,), "fortran_order": False}`, make([]byte, 6)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := ReadNPY(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if m != nil || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v with matrix %v (or not ErrFormat)", err, m)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("returned matrix does not validate: %v", err)
		}
	})
}

func npzSeeds() [][]byte {
	rng := rand.New(rand.NewPCG(33, 34))
	var out [][]byte
	for _, compress := range []bool{false, true} {
		var b bytes.Buffer
		c, _ := formats.CSRFromDense(randDense(rng, 4, 6, 0.4))
		_ = WriteCSR(&b, c, compress)
		out = append(out, append([]byte(nil), b.Bytes()...))
		b.Reset()
		bs, _ := formats.BSRFromDense(blockDense(rng, 4, 6, 2, 3, 0.6), 2, 3)
		_ = WriteBSR(&b, bs, compress)
		out = append(out, append([]byte(nil), b.Bytes()...))
		b.Reset()
		nd := randDense(rng, 2, 6, 1)
		for i := range nd.Data {
			if i%4 >= 2 {
				nd.Data[i] = 0
			}
		}
		nm, _ := formats.NMFromDense(nd, 2, 4)
		_ = WriteNM(&b, nm, compress)
		out = append(out, append([]byte(nil), b.Bytes()...))
		b.Reset()
		// Low-precision CSR (CSRLP): bf16 bits, f16, int8 + "data_scale".
		lc, _ := formats.CSRFromDense(randDense(rng, 4, 6, 0.5))
		for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
			lp, _ := formats.CSRLPFromCSR(lc, dt)
			_ = WriteCSRLP(&b, lp, compress)
			out = append(out, append([]byte(nil), b.Bytes()...))
			b.Reset()
		}
		w := NewNPZWriter(&b, compress)
		_ = w.WriteDense("w", randDense(rng, 2, 3, 1))
		_ = w.Close()
		out = append(out, append([]byte(nil), b.Bytes()...))
	}
	return out
}

// withoutCRC re-packs an archive with every CRC-32 set to 0, which archive/zip takes as
// "unknown" and does not check: the fuzzer can then mutate the .npy bytes of stored entries
// and still reach the array parsers.
func withoutCRC(b []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		fh := f.FileHeader
		fh.CRC32 = 0
		fh.Flags &^= 0x8
		raw, _ := f.OpenRaw()
		body, _ := io.ReadAll(raw)
		w, _ := zw.CreateRaw(&fh)
		_, _ = w.Write(body)
	}
	_ = zw.Close()
	return out.Bytes()
}

func FuzzReadNPZ(f *testing.F) {
	for _, s := range npzSeeds() {
		f.Add(s)
		f.Add(withoutCRC(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(m formats.Matrix, err error) {
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("error not ErrFormat: %v", err)
				}
				return
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("returned matrix does not validate: %v", err)
			}
		}
		z, err := OpenNPZ(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			check(nil, err)
			return
		}
		for _, n := range z.Names() {
			_, _ = z.Info(n)
			d, _, err := z.Dense(n)
			if err == nil {
				check(d, nil)
			} else {
				check(nil, err)
			}
		}
		m, _, err := z.Matrix("")
		check(m, err)
	})
}

func FuzzReadSafetensors(f *testing.F) {
	d := seedDense()
	for _, dt := range []string{"F32", "F16", "BF16"} {
		var b bytes.Buffer
		_ = WriteSafetensors(&b, []Tensor{{Name: "w", DType: dt, Data: d}, {Name: "b", DType: dt, Data: d, Shape: []int{15}}}, map[string]string{"k": "v"})
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := OpenSafetensors(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if s != nil || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v (or not ErrFormat)", err)
			}
			return
		}
		for _, ti := range s.List() {
			m, _, err := s.Dense(ti.Name)
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("error not ErrFormat: %v", err)
				}
				continue
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("returned matrix does not validate: %v", err)
			}
		}
	})
}
