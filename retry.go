package recstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Optimistic writes. DB.Update runs the caller's function in a
// transaction; UpdateOrCreate, Query.Update, Dedupe and a merging
// InsertMany run their callbacks in one, inside the engine (never inside
// the committer, where a slow callback would stall every writer). The
// commit applies the transaction only if what it read is still so, and
// else it starts again: one policy for all of them, retry.

// maxAttempts bounds how often an optimistic write runs when concurrent
// commits keep changing what it read.
const maxAttempts = 100

// escalateAfter is how many stale attempts an optimistic write makes
// before it takes what it writes alone, if it can (see retry).
const escalateAfter = 8

// maxBackoff bounds the wait between two attempts.
const maxBackoff = time.Millisecond

// errStale tells an optimistic write that what it read changed before it
// committed: it reads again and retries. Outside the engine it is
// ErrConflict, once retry gives up.
var errStale = errors.New("recstore: read went stale")

// retry runs attempt until it returns anything but errStale, at most
// maxAttempts times, then returns ErrConflict. Between attempts it waits
// for a random time that doubles with each one, so that writers colliding
// on one record spread out. Once ctx ends it stops, before an attempt or
// during a wait, and returns ctx's error.
//
// After escalateAfter stale attempts it calls escalate, if set, which may
// take what attempt writes alone until the release it returns is called
// (memTable.takeAlone): without that, a stream of inserts into what
// attempt reads (a query's range, a group of duplicates) could make every
// attempt stale, since an insert commits at any moment and an attempt's
// snapshot, callbacks and validation take a while. A transaction's commit
// is not held back and can still make an attempt stale.
func retry[R any](ctx context.Context, attempt func() (R, error), escalate func(ctx context.Context) (release func(), err error)) (R, error) {
	var zero R
	for n := range maxAttempts {
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		if n == escalateAfter && escalate != nil {
			release, err := escalate(ctx)
			if err != nil {
				return zero, err
			}
			defer release()
		}
		r, err := attempt()
		if !errors.Is(err, errStale) {
			return r, err
		}
		wait := min(time.Microsecond<<min(n, 20), maxBackoff)
		if err := sleepContext(ctx, time.Duration(rand.Int64N(int64(wait)))); err != nil {
			return zero, err
		}
	}
	return zero, ErrConflict
}

// optimistic runs fn in a transaction of its own on m's table and commits
// it, running it again (retry) while concurrent commits make what it read
// stale, and taking the table alone after a few tries, until ctx ends.
func optimistic[T, R any](ctx context.Context, m *memTable[T], fn func(t *txTable[T]) (R, error)) (R, error) {
	return retry(ctx, func() (R, error) {
		var zero R
		tx := &memTx{e: m.e, v: m.e.latest(), writable: true}
		r, err := fn(m.txTable(tx))
		if err != nil {
			return zero, err
		}
		if err := tx.commit(); err != nil {
			return zero, err
		}
		return r, nil
	}, m.takeAlone)
}
