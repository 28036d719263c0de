//go:build unix

package fileio

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFIFORefused: a FIFO named like a weight file is refused at once; opening it used to
// block until a writer came.
func TestFIFORefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	require.NoError(t, syscall.Mkfifo(path, 0o644))
	done := make(chan error, 3)
	go func() { _, _, err := LoadMatrix(path, ""); done <- err }()
	go func() { _, _, err := ListFile(path); done <- err }()
	go func() { _, err := OpenNPZFile(path); done <- err }()
	for range 3 {
		select {
		case err := <-done:
			require.ErrorContains(t, err, "not a regular file")
		case <-time.After(10 * time.Second):
			t.Fatal("opening a FIFO blocked")
		}
	}
}
