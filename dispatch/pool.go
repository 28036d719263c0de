package dispatch

import (
	"sync"
	"sync/atomic"
)

// The worker pool is process-wide and persistent: workers are goroutines started once
// (lazily, and more when a plan asks for more threads than exist) that wait on a channel.
// A call is a job cut into chunks; the caller hands the job to up to T−1 idle workers and
// then takes chunks itself from the same atomic counter, so a call always makes progress
// even when every worker is busy with other calls (concurrent Mul of one or many plans).
// Which thread runs which chunk does not matter for the result: every chunk writes its own
// rows × columns of Y with a summation order fixed by the plan.

type job struct {
	run    func(chunk int)
	chunks int32
	next   atomic.Int32
	done   atomic.Int32
	fin    chan struct{}
}

// help runs chunks of j until none is left.
func (j *job) help() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		j.run(int(c))
		if j.done.Add(1) == j.chunks {
			close(j.fin)
		}
	}
}

type workerPool struct {
	mu      sync.Mutex
	workers int
	work    chan *job
}

var pool = &workerPool{work: make(chan *job)}

// ensure starts workers until there are at least n.
func (p *workerPool) ensure(n int) {
	p.mu.Lock()
	for p.workers < n {
		p.workers++
		go func() {
			for j := range p.work {
				j.help()
			}
		}()
	}
	p.mu.Unlock()
}

// parallel runs run(0 … chunks−1) on up to threads threads (the caller included) and
// returns when all are done. A job is never reused: a worker that received it late may
// still read its counter after the caller returned.
func parallel(threads, chunks int, run func(chunk int)) {
	if chunks <= 0 {
		return
	}
	if threads <= 1 || chunks == 1 {
		for c := range chunks {
			run(c)
		}
		return
	}
	helpers := min(threads, chunks) - 1
	pool.ensure(helpers)
	j := &job{run: run, chunks: int32(chunks), fin: make(chan struct{})}
	for range helpers {
		select {
		case pool.work <- j: // an idle worker took it
		default: // all busy: the caller and the workers that did take it do the rest
		}
	}
	j.help()
	<-j.fin
}
