//go:build !purego

package asm

func init() {
	peakLoops[NEON] = peakLoop{run: peakNEON, flopsPerIter: peakNEONFlopsPerIter, features: peakNEONFeatures}
}
