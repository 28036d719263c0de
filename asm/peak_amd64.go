//go:build !purego

package asm

func init() {
	peakLoops[AVX512] = peakLoop{run: peakAVX512, flopsPerIter: peakAVX512FlopsPerIter, features: peakAVX512Features}
	peakLoops[AVX2] = peakLoop{run: peakAVX2, flopsPerIter: peakAVX2FlopsPerIter, features: peakAVX2Features}
}
