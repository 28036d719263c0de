//go:build unix

package fileio

import (
	"os"
	"syscall"
)

// openNoBlock opens path for reading without waiting for a writer, should it have become
// a FIFO after openSized's check (O_NONBLOCK changes nothing for a regular file).
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
