package recstore

import "errors"

// Optimistic writes. UpdateOrCreate, Query.Update, Dedupe and a merging
// InsertMany read a snapshot, run the caller's callbacks on what they read
// (never inside the committer, where a slow callback would stall every
// writer), then ask the committer to apply the result only if what they
// read is still so, and else start again.

// maxRetries bounds how often an optimistic write starts again after
// concurrent writers changed what it had read.
const maxRetries = 100

// escalateAfter is how many attempts an optimistic write makes before it
// takes its table alone (see retrying).
const escalateAfter = 8

// errStale tells a caller that what it read changed before its write
// reached the committer; it reads again and retries.
var errStale = errors.New("recstore: read went stale")

// retrying runs once with t until it returns anything but errStale, at
// most maxRetries times, then returns ErrConflict.
//
// After escalateAfter stale attempts, it takes the table alone: inserts
// into it stop taking the fast path, and every other write to it (outside
// transactions) waits until retrying returns; once then runs with a handle
// whose writes do not wait. Without this, a stream of inserts into what
// once reads (a query's range, a group of duplicates) could make every
// attempt stale: an insert commits at any moment, and once's snapshot,
// callbacks and validation take a while. A transaction's commit is not
// held back and can still make an attempt stale.
func retrying[T, R any](t *Table[T], once func(t *Table[T]) (R, error)) (R, error) {
	for attempt := range maxRetries {
		if attempt == escalateAfter && t.tx == nil && !t.alone {
			if err := t.pauseFast(); err != nil {
				var zero R
				return zero, err
			}
			defer t.resumeFast()
			t.core.excl.Lock()
			defer t.core.excl.Unlock()
			t = &Table[T]{core: t.core, alone: true}
		}
		r, err := once(t)
		if !errors.Is(err, errStale) {
			return r, err
		}
	}
	var zero R
	return zero, ErrConflict
}

// pauseFast sends the table's inserts through the committer until as many
// resumeFast calls as pauseFast calls have returned.
func (t *Table[T]) pauseFast() error {
	return t.write(func(tw *tableWork[T]) error {
		tw.setFast(false)
		return nil
	})
}

// resumeFast ends one pauseFast.
func (t *Table[T]) resumeFast() {
	_ = t.write(func(tw *tableWork[T]) error { // fails only on a closed DB, which takes no insert anyway
		tw.setFast(true)
		return nil
	})
}
