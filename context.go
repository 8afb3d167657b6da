package recstore

import (
	"context"
	"sync"
	"time"
)

// Waits under a context. The calls that wait for other callers (a lookup's
// creators, a table taken alone, a schema change under way) or retry after
// a conflict have forms that take a context.Context; cancelling it stops
// the wait or the retries and returns the context's error. A wait never
// stops a write that has begun: a commit, once submitted, is awaited
// whatever the context says, so that a cancelled call leaves nothing half
// done.

// context returns ctx, or if it is nil, the context of t's transaction,
// if it began with one, or else context.Background().
func (t *Table[T]) context(ctx context.Context) context.Context {
	switch {
	case ctx != nil:
		return ctx
	case t.tx != nil && t.tx.ctx != nil:
		return t.tx.ctx
	}
	return context.Background()
}

// lockContext locks mu, or returns ctx's error if ctx ends first, not
// holding mu. A context that cannot end adds a look at it and a TryLock to
// mu.Lock; one that can makes a contended wait hand the lock over from a
// goroutine of its own which, if the wait was abandoned, still queues for
// the lock and gives it back at once when it gets it (so, on an RWMutex,
// readers arriving meanwhile queue behind it as behind any writer).
func lockContext(ctx context.Context, mu tryLocker) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if mu.TryLock() {
		return nil
	}
	done := ctx.Done()
	if done == nil {
		mu.Lock()
		return nil
	}
	handed, abandoned := make(chan struct{}), make(chan struct{})
	go func() {
		mu.Lock()
		select {
		case handed <- struct{}{}:
		case <-abandoned:
			mu.Unlock()
		}
	}()
	select {
	case <-handed:
		return nil
	case <-done:
		close(abandoned)
		return ctx.Err()
	}
}

// tryLocker is a lock that lockContext takes: *sync.Mutex, or
// *sync.RWMutex for writing.
type tryLocker interface {
	sync.Locker
	TryLock() bool
}

// sleepContext waits for d, or returns ctx's error if ctx ends first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if ctx.Done() == nil {
		time.Sleep(d)
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
