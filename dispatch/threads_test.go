package dispatch

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// SetThreads while other goroutines call Mul: every result stays bitwise equal to the
// one-thread result (run with -race).
func TestSetThreadsWhileRunning(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	w := inFormat(t, randDense(rng, 200, 96, 0.2), "csr")
	const n = 40
	x := randX(rng, 96*n)
	p, err := Compile(w, Options{Threads: 1})
	require.NoError(t, err)
	want := mulAll(t, p, x, n)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if g == 0 {
					require.NoError(t, p.SetThreads(1+i%3))
				}
				y := mulAll(t, p, x, n)
				require.Equal(t, -1, bitwiseEqual(want, y))
			}
		}()
	}
	wg.Wait()
	require.Error(t, p.SetThreads(-1))
	require.Error(t, p.SetThreads(MaxThreads+1))
	require.NoError(t, p.SetThreads(0))
	require.GreaterOrEqual(t, p.Threads(), 1)
	_, err = Compile(w, Options{Threads: MaxThreads + 1})
	require.Error(t, err)
}

// A panic inside a chunk (on a pool worker or on the caller) comes back as an error.
func TestParallelRecoversPanics(t *testing.T) {
	for _, threads := range []int{1, 2, 4} {
		err := parallel(threads, 8, func(c int) error {
			if c == 5 {
				panic("boom")
			}
			return nil
		})
		require.Error(t, err, "threads=%d", threads)
		require.True(t, strings.Contains(err.Error(), "boom"), err.Error())
	}
	require.NoError(t, parallel(3, 8, func(int) error { return nil }))
	// Chunk errors: the lowest failing chunk's error comes back.
	for _, threads := range []int{1, 3} {
		err := parallel(threads, 8, func(c int) error {
			if c >= 4 {
				return fmt.Errorf("chunk %d", c)
			}
			return nil
		})
		require.EqualError(t, err, "chunk 4", "threads=%d", threads)
	}
	// The pool still works after a panic.
	var mu sync.Mutex
	seen := map[int]bool{}
	require.NoError(t, parallel(3, 16, func(c int) error { mu.Lock(); seen[c] = true; mu.Unlock(); return nil }))
	require.Len(t, seen, 16)
}

// TestThreadsCapped: Threads = 0 (and SetThreads(0)) follow GOMAXPROCS only up to
// MaxThreads, and larger counts are refused: more than 10000 OS threads stop a Go process.
func TestThreadsCapped(t *testing.T) {
	d := randDense(rand.New(rand.NewPCG(1, 2)), 8, 8, 0.5)
	old := runtime.GOMAXPROCS(MaxThreads + 100)
	p, err := Compile(d, Options{})
	runtime.GOMAXPROCS(old)
	require.NoError(t, err)
	require.Equal(t, MaxThreads, p.Threads())
	require.Error(t, p.SetThreads(MaxThreads+1))
	_, err = Compile(d, Options{Threads: 100000})
	require.Error(t, err)
	runtime.GOMAXPROCS(MaxThreads + 100)
	err = p.SetThreads(0)
	runtime.GOMAXPROCS(old)
	require.NoError(t, err)
	require.Equal(t, MaxThreads, p.Threads())
}
