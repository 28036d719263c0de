package main

import (
	"testing"

	"github.com/sparsegen/sparsegen/bench"
)

// TestWithDTypes: -dtype repeats the dense pattern per dtype, keeps the other patterns only
// with f32, and refuses unknown dtypes or a list that leaves nothing to run.
func TestWithDTypes(t *testing.T) {
	ps := []bench.Pattern{{Kind: bench.Dense}, {Kind: bench.Unstructured, Sparsity: 0.9}}
	got, err := withDTypes(ps, "f32,bf16,i8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dense", "dense:bf16", "dense:i8", "unstructured:0.9"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, p := range got {
		if p.String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got, err := withDTypes(ps, "f16"); err != nil || len(got) != 1 || got[0].String() != "dense:f16" {
		t.Fatalf("f16 only: %v %v", got, err)
	}
	if _, err := withDTypes(ps, "f8"); err == nil {
		t.Fatal("f8 accepted")
	}
	if _, err := withDTypes(ps[1:], "bf16"); err == nil {
		t.Fatal("no dense pattern, bf16 only: accepted")
	}
}
