package fuzzbytes

import "testing"

func TestReader(t *testing.T) {
	r := &Reader{B: []byte{7, 255}}
	for i, want := range []int{7, 255, 0, 0} {
		if got := r.Next(); got != want {
			t.Fatalf("Next #%d = %d, want %d", i, got, want)
		}
	}
}
