//go:build !purego

package asm

func init() {
	readLoops = append(readLoops,
		readLoop{isa: AVX512, run: readAVX512, blockBytes: readAVX512BlockBytes, streams: readAVX512Streams, features: readAVX512Features},
		readLoop{isa: AVX2, run: readAVX2, blockBytes: readAVX2BlockBytes, streams: readAVX2Streams, features: readAVX2Features})
}
