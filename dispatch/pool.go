package dispatch

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool is process-wide and persistent: workers are goroutines started once
// (lazily, and more when a plan asks for more threads than exist). A call is a job cut into
// chunks; the caller hands the job to up to T−1 workers and then takes chunks itself from
// the same atomic counter, so a call always makes progress even when every worker is busy
// with other calls (concurrent Mul of one or many plans). Which thread runs which chunk does
// not change the result: every chunk writes its own rows × columns of Y with a summation
// order fixed by the plan.
//
// Hand-off: after a job a worker spins for spinFor, polling its slot, before it parks on its
// channel. Inference calls come back to back (layer after layer), and a spinning worker
// starts a chunk within a fraction of a microsecond, where waking a parked goroutine costs
// microseconds each and the Go scheduler wakes them one after another.

const spinFor = 100 * time.Microsecond

type job struct {
	run    func(chunk int) error
	errs   []error // per chunk
	chunks int32
	next   atomic.Int32
	done   atomic.Int32
	fin    chan struct{}
	failed atomic.Pointer[error] // the first chunk's panic, as an error
}

// help runs chunks of j until none is left.
func (j *job) help() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		j.runChunk(int(c))
	}
}

// runChunk runs one chunk; a panic in it is recovered and kept as the job's error, so a
// worker goroutine never takes the process down (a C host included) and the call returns.
func (j *job) runChunk(c int) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("dispatch: internal error in a kernel chunk: %v\n%s", r, debug.Stack())
			j.failed.CompareAndSwap(nil, &err)
		}
		if j.done.Add(1) == j.chunks {
			close(j.fin)
		}
	}()
	j.errs[c] = j.run(c)
}

// err is the job's recovered panic, if any, else the error of the lowest failing chunk.
func (j *job) err() error {
	if e := j.failed.Load(); e != nil {
		return *e
	}
	for _, e := range j.errs {
		if e != nil {
			return e
		}
	}
	return nil
}

const (
	stateSpinning int32 = iota
	stateParked
)

type worker struct {
	slot  atomic.Pointer[job] // a job handed to a spinning worker
	state atomic.Int32
	wake  chan *job // a job handed to a parked worker
}

func (w *worker) loop() {
	for {
		// Spin: poll the slot until spinFor has passed without work.
		deadline := time.Now().Add(spinFor)
		for i := 0; ; i++ {
			if j := w.slot.Swap(nil); j != nil {
				j.help()
				deadline = time.Now().Add(spinFor)
				continue
			}
			if i%256 == 255 && time.Now().After(deadline) {
				break
			}
		}
		// Park; a job put in the slot while going to sleep is still taken.
		w.state.Store(stateParked)
		if j := w.slot.Swap(nil); j != nil {
			w.state.Store(stateSpinning)
			j.help()
			continue
		}
		j := <-w.wake
		w.state.Store(stateSpinning)
		j.help()
	}
}

// give hands j to w if w is free; it reports whether w took it.
func (w *worker) give(j *job) bool {
	if w.state.Load() == stateSpinning {
		return w.slot.CompareAndSwap(nil, j)
	}
	select {
	case w.wake <- j:
		return true
	default:
		return false
	}
}

type workerPool struct {
	mu      sync.Mutex
	workers atomic.Pointer[[]*worker]
	rr      atomic.Uint32 // where the next call starts looking, to spread concurrent calls
}

var pool = &workerPool{}

// get returns at least n workers, starting more if needed.
func (p *workerPool) get(n int) []*worker {
	if ws := p.workers.Load(); ws != nil && len(*ws) >= n {
		return *ws
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ws []*worker
	if cur := p.workers.Load(); cur != nil {
		ws = append(ws, *cur...)
	}
	for len(ws) < n {
		w := &worker{wake: make(chan *job, 1)}
		go w.loop()
		ws = append(ws, w)
	}
	p.workers.Store(&ws)
	return ws
}

// parallel runs run(0 … chunks−1) on up to threads threads (the caller included) and
// returns when all are done: the error of a chunk that panicked, else that of the lowest
// chunk that failed, else nil. A job is never reused: a worker may find it late in its slot.
func parallel(threads, chunks int, run func(chunk int) error) error {
	if chunks <= 0 {
		return nil
	}
	j := &job{run: run, chunks: int32(chunks), fin: make(chan struct{}), errs: make([]error, chunks)}
	if threads <= 1 || chunks == 1 {
		j.help()
		return j.err()
	}
	helpers := min(threads, chunks) - 1
	ws := pool.get(helpers)
	start := int(pool.rr.Add(uint32(helpers)))
	for i, given := 0, 0; i < len(ws) && given < helpers; i++ {
		if ws[(start+i)%len(ws)].give(j) {
			given++
		}
	}
	j.help()
	// The other chunks are running: spin a while before blocking (a parked caller costs a
	// futex wake-up on the critical path).
	deadline := time.Now().Add(spinFor)
	for i := 0; j.done.Load() < j.chunks; i++ {
		if i%256 == 255 && time.Now().After(deadline) {
			<-j.fin
			return j.err()
		}
	}
	return j.err()
}
