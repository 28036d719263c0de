package main

import (
	"testing"

	"github.com/sparsegen/sparsegen/internal/snippet"
)

// TestReadmeSnippets checks that the examples the READMEs show are the files CI runs:
// README.md here shows examples/c/quickstart.c and python/quickstart.py, the repository's
// README.md shows python/quickstart.py (.ci/cabi.sh runs both and compares what they print
// with their Output comments). Other marked blocks are checked against their files too.
func TestReadmeSnippets(t *testing.T) {
	if err := snippet.Check("README.md", "examples/c/quickstart.c", "python/quickstart.py"); err != nil {
		t.Error(err)
	}
	if err := snippet.Check("../../README.md", "cmd/libsparsegen/python/quickstart.py"); err != nil {
		t.Error(err)
	}
}
