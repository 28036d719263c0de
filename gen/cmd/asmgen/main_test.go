package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpToDate regenerates every file in memory and fails on any difference from the
// committed asm/ directory, or on a stale generated file that the generator no longer
// writes. CI runs it (gen/check.sh); fix a failure with `go generate ./...` at the root.
func TestUpToDate(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "..", "asm")
	for _, f := range files {
		have, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./...)", f.Name, err)
			continue
		}
		if !bytes.Equal(have, f.Data) {
			t.Errorf("asm/%s differs from the generator's output (run go generate ./...)", f.Name)
		}
	}
	stale, err := Stale(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stale {
		t.Errorf("asm/%s carries the generator's header but is no longer generated", s)
	}
}

// TestDeterministic checks that two runs produce identical bytes (no map-order leaks).
func TestDeterministic(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d vs %d files", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("%s: output differs between runs", a[i].Name)
		}
	}
}

func TestSelection(t *testing.T) {
	all, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	sel, err := parseSelection("avx2", "csr")
	if err != nil {
		t.Fatal(err)
	}
	some, err := generate(sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(some) == 0 || len(some) >= len(all) {
		t.Fatalf("selection avx2/csr wrote %d of %d files", len(some), len(all))
	}
	for _, f := range some {
		if !strings.HasPrefix(f.Name, "csr_avx2_amd64.") {
			t.Errorf("selection avx2/csr wrote %s", f.Name)
		}
	}
	for _, bad := range [][2]string{{"sse2", ""}, {"", "nosuch"}} {
		if _, err := parseSelection(bad[0], bad[1]); err == nil {
			t.Errorf("parseSelection(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
