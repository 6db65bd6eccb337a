// Package lifecycle is the Start/Stop half of ARCHITECTURE.md's "One
// lifecycle" for work that outlives the request that asked for it: it runs
// under the part's context between Start and Stop, and Stop cancels it and
// waits for it.
package lifecycle

import (
	"context"
	"sync"
)

// Work is the work a part runs between Start and Stop. The zero value is
// stopped.
type Work struct {
	mu     sync.Mutex
	ctx    context.Context // set by Start, cleared by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start lets work begin under ctx; it ends when ctx does or at Stop. A
// second Start before Stop does nothing.
func (w *Work) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil {
		w.ctx, w.cancel = context.WithCancel(ctx)
	}
}

// Stop refuses new work, cancels what runs and waits for it to end. It is
// safe to call more than once.
func (w *Work) Stop() {
	w.mu.Lock()
	if w.cancel != nil {
		w.cancel()
	}
	w.ctx, w.cancel = nil, nil
	w.mu.Unlock()
	w.wg.Wait()
}

// Begin reserves a place for one piece of work under Start's context, or
// reports false when not started. The place is taken under the lock while
// the context is set, so it never races Stop's wait. Done gives it back.
func (w *Work) Begin() (context.Context, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil {
		return nil, false
	}
	w.wg.Add(1)
	return w.ctx, true
}

// Done ends a piece of work Begin started.
func (w *Work) Done() { w.wg.Done() }
