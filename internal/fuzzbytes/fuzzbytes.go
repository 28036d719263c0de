// Package fuzzbytes reads a fuzzer's byte string as a stream of small integers, for the
// fuzz targets that build matrices and calls from arbitrary input.
package fuzzbytes

// Reader hands out the bytes of B one at a time, then zeros.
type Reader struct {
	B  []byte
	at int
}

// Next returns the next byte as an int in [0, 255], or 0 past the end.
func (r *Reader) Next() int {
	if r.at >= len(r.B) {
		return 0
	}
	r.at++
	return int(r.B[r.at-1])
}
