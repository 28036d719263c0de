package main

import (
	"testing"

	"github.com/sparsegen/sparsegen/internal/snippet"
)

// TestReadmeSnippets checks that README.md's C example is examples/c/quickstart.c, which
// .ci/cabi.sh compiles, runs and compares with its Output comment, and every other marked
// block of README.md against its file.
func TestReadmeSnippets(t *testing.T) {
	if err := snippet.Check("README.md", "examples/c/quickstart.c"); err != nil {
		t.Error(err)
	}
}
