//go:build !purego

package asm

func init() {
	readLoops = append(readLoops,
		readLoop{isa: AVX512, run: readAVX512, blockBytes: readAVX512BlockBytes, features: readAVX512Features},
		readLoop{isa: AVX2, run: readAVX2, blockBytes: readAVX2BlockBytes, features: readAVX2Features})
}
