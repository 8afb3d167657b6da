package bench

import (
	"sync"

	"github.com/tidwall/btree"
)

// btreeStore: a tidwall/btree BTreeG of records by value, ordered by
// email, behind a sync.RWMutex with double-checked locking. Its snapshot
// is Copy, O(1) and copy-on-write, which writes the tree's isolation id
// and so takes the write lock.
type btreeStore struct {
	mu   sync.RWMutex
	tr   *btree.BTreeG[User]
	next int64 // guarded by mu
}

func init() {
	register("btree", func() (Store, error) {
		return &btreeStore{tr: btree.NewBTreeGOptions(byEmail, btree.Options{NoLocks: true})}, nil
	})
}

func byEmail(a, b User) bool { return a.Email < b.Email }

func (s *btreeStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	s.mu.RLock()
	u, ok := s.tr.Get(User{Email: email})
	s.mu.RUnlock()
	if ok {
		return u, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.tr.Get(User{Email: email}); ok {
		return u, false, nil
	}
	u = mk(email)
	s.next++
	u.ID = s.next
	s.tr.Set(u)
	return u, true, nil
}

func (s *btreeStore) Get(email string) (User, bool, error) {
	s.mu.RLock()
	u, ok := s.tr.Get(User{Email: email})
	s.mu.RUnlock()
	return u, ok, nil
}

func (s *btreeStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tr.Len()
}

func (s *btreeStore) Close() error { return nil }

// Snapshot takes a copy-on-write copy of the tree and drops it.
func (s *btreeStore) Snapshot() error {
	s.mu.Lock()
	c := s.tr.Copy()
	s.mu.Unlock()
	_ = c
	return nil
}

// Range reads an email range under the read lock.
func (s *btreeStore) Range(lo, hi string) (int, error) {
	n := 0
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.tr.Ascend(User{Email: lo}, func(u User) bool {
		if u.Email >= hi {
			return false
		}
		n++
		return true
	})
	return n, nil
}
