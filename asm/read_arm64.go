//go:build !purego

package asm

func init() {
	readLoops = append(readLoops, readLoop{isa: NEON, run: readNEON, blockBytes: readNEONBlockBytes, streams: readNEONStreams, features: readNEONFeatures})
}
