package dispatch_test

import (
	"testing"

	"github.com/sparsegen/sparsegen/internal/snippet"
)

// TestReadmeGoExample checks that README.md's "From Go" block is example_test.go from its
// imports on (Example's Output checks what that code prints), and every other marked block of
// README.md against its file.
func TestReadmeGoExample(t *testing.T) {
	if err := snippet.Check("../README.md", "dispatch/example_test.go"); err != nil {
		t.Fatal(err)
	}
}
