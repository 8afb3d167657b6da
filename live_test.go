package recstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// livePairsWhole is the guarantee of the live indexes: point reads see a
// commit whole. A writer updates two records in one transaction, again and
// again, setting both ages to the same rising number; readers Get the
// first, then the second. Since the ages only rise, the second must be at
// least as new as the first: a reader that sees the first record's new
// age and the second's old one saw part of a commit. It runs for d and
// returns what broke, or "".
func livePairsWhole(t *testing.T, db *DB, users *Table[User], d time.Duration) string {
	t.Helper()
	var pair [2]User
	for i, e := range []string{"a@pair", "b@pair"} {
		u, _, err := users.GetOrCreate(uEmail.Eq(e), func() (User, error) { return User{Email: e, Org: "pair", Username: e}, nil })
		require.NoError(t, err)
		pair[i] = u
	}
	var stop atomic.Bool
	var torn atomic.Pointer[string]
	var wg sync.WaitGroup
	wg.Go(func() {
		defer stop.Store(true)
		deadline := time.Now().Add(d)
		for age := pair[0].Age + 1; time.Now().Before(deadline) && torn.Load() == nil; age++ {
			err := db.Update(func(tx *Tx) error {
				for _, u := range pair {
					u.Age = age
					if err := users.In(tx).Update(u); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Errorf("writer: %v", err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				a, errA := users.Get(uEmail.Eq(pair[0].Email))
				b, errB := users.Get(uEmail.Eq(pair[1].Email))
				if errA != nil || errB != nil || b.Age < a.Age {
					msg := fmt.Sprintf("read age %d, then age %d from the same commits (%v, %v)", a.Age, b.Age, errA, errB)
					torn.CompareAndSwap(nil, &msg)
				}
			}
		})
	}
	wg.Wait()
	if msg := torn.Load(); msg != nil {
		return *msg
	}
	return ""
}

// TestTable_PointReads_SeeWholeCommits: Get through a live index never
// sees part of a transaction (see faults_test.go for the proof that the
// check can fail).
func TestTable_PointReads_SeeWholeCommits(t *testing.T) {
	db, users := newUsers(t)
	require.Empty(t, livePairsWhole(t, db, users, 500*time.Millisecond))
}

// TestDB_Snapshot_BringsVersionUpToDate: commits with no reader waiting
// are not published; the first reader that needs a version applies them
// itself, later readers reuse its version, and the committer publishes
// after its next batch.
func TestDB_Snapshot_BringsVersionUpToDate(t *testing.T) {
	db, users := newUsers(t)
	for i := range 10 {
		_, err := users.Insert(User{Email: fmt.Sprint(i), Username: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	require.NotNil(t, db.pend.Load().head, "commits are pending, unpublished")
	require.Equal(t, 0, db.cur.Load().tables[users.core.id].(*tableState[User]).len())

	v, err := db.snapshot()
	require.NoError(t, err)
	require.Equal(t, 10, v.tables[users.core.id].(*tableState[User]).len())
	require.NoError(t, v.tables[users.core.id].(*tableState[User]).check())
	again, err := db.snapshot()
	require.NoError(t, err)
	require.Same(t, v, again, "a later reader reuses the version")
	require.True(t, db.wantFresh.Load())

	_, err = users.Insert(User{Email: "next", Username: "next"})
	require.NoError(t, err)
	require.Nil(t, db.pend.Load().head, "the committer published after its next batch")
	require.False(t, db.wantFresh.Load())
	require.Equal(t, 11, users.Len())
}

// TestDB_PendingLog_Bounded: without readers, the committer publishes
// every maxPending changes, so the pending log never holds more.
func TestDB_PendingLog_Bounded(t *testing.T) {
	db, users := newUsers(t)
	most := 0
	for i := range 3 * maxPending {
		_, err := users.Insert(User{Email: fmt.Sprint(i), Username: fmt.Sprint(i)})
		require.NoError(t, err)
		n := 0
		for r := db.pend.Load().head; r != nil; r = r.prev {
			n += len(r.changes[users.core.id].([]undoRec[User]))
		}
		most = max(most, n)
	}
	require.Positive(t, most)
	require.Less(t, most, maxPending)
	require.Equal(t, 4096, maxPending, "doc.go and README state 4,096")
}
