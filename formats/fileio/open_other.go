//go:build !unix

package fileio

import "os"

func openNoBlock(path string) (*os.File, error) { return os.Open(path) }
