package fileio

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// Read throughput on a 1024×1024 weight matrix (4 MiB as float32).

func benchRead(b *testing.B, file []byte, read func([]byte) (formats.Matrix, error)) {
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := read(file); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadNPYF32(b *testing.B) {
	d := randDense(rand.New(rand.NewPCG(1, 1)), 1024, 1024, 1)
	var buf bytes.Buffer
	_ = WriteNPY(&buf, d)
	benchRead(b, buf.Bytes(), func(f []byte) (formats.Matrix, error) {
		m, _, err := ReadNPY(bytes.NewReader(f), int64(len(f)))
		return m, err
	})
}

func BenchmarkReadSafetensorsBF16(b *testing.B) {
	d := randDense(rand.New(rand.NewPCG(1, 1)), 1024, 1024, 1)
	var buf bytes.Buffer
	_ = WriteSafetensors(&buf, []Tensor{{Name: "w", DType: "BF16", Data: d}}, nil)
	benchRead(b, buf.Bytes(), func(f []byte) (formats.Matrix, error) {
		m, _, err := ReadMatrix(bytes.NewReader(f), int64(len(f)), "w")
		return m, err
	})
}

func BenchmarkReadCSRNPZ(b *testing.B) {
	for _, compress := range []bool{false, true} {
		name := map[bool]string{false: "stored", true: "deflated"}[compress]
		b.Run(name, func(b *testing.B) {
			c, _ := formats.CSRFromDense(randDense(rand.New(rand.NewPCG(1, 1)), 1024, 1024, 0.1))
			var buf bytes.Buffer
			_ = WriteCSR(&buf, c, compress)
			benchRead(b, buf.Bytes(), func(f []byte) (formats.Matrix, error) {
				m, _, err := ReadNPZMatrix(bytes.NewReader(f), int64(len(f)), "")
				return m, err
			})
		})
	}
}
