package bench

import (
	"errors"
	"strings"
	"sync"

	"github.com/tidwall/btree"
)

// handwritten: the store a user writes by hand in an afternoon instead of
// adopting recstore, holding the same table as recstore's in this package:
// an assigned primary key and two unique indexes, email and (org, name),
// one tidwall/btree tree each, sharing one *User per record, behind one
// sync.RWMutex. A create checks both unique keys under the write lock, then
// sets the three trees; a hit reads the email tree under the read lock.
type handwrittenStore struct {
	mu      sync.RWMutex
	byID    *btree.BTreeG[*User]
	byEmail *btree.BTreeG[*User]
	byOrg   *btree.BTreeG[*User] // (org, name)
	next    int64                // guarded by mu
}

func init() { register("handwritten", newHandwritten) }

func newHandwritten() (Store, error) {
	opts := btree.Options{NoLocks: true}
	return &handwrittenStore{
		byID:    btree.NewBTreeGOptions(func(a, b *User) bool { return a.ID < b.ID }, opts),
		byEmail: btree.NewBTreeGOptions(func(a, b *User) bool { return a.Email < b.Email }, opts),
		byOrg: btree.NewBTreeGOptions(func(a, b *User) bool {
			if c := strings.Compare(a.Org, b.Org); c != 0 {
				return c < 0
			}
			return a.Name < b.Name
		}, opts),
	}, nil
}

// errOrgNameTaken is the handwritten store's unique violation of (org, name).
var errOrgNameTaken = errors.New("handwritten: (org, name) already taken")

func (s *handwrittenStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	probe := User{Email: email}
	s.mu.RLock()
	u, ok := s.byEmail.Get(&probe)
	s.mu.RUnlock()
	if ok {
		return *u, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.byEmail.Get(&probe); ok {
		return *u, false, nil
	}
	rec := mk(email)
	if _, taken := s.byOrg.Get(&rec); taken {
		return User{}, false, errOrgNameTaken
	}
	s.next++
	rec.ID = s.next
	p := &rec
	s.byID.Set(p)
	s.byEmail.Set(p)
	s.byOrg.Set(p)
	return rec, true, nil
}

func (s *handwrittenStore) Get(email string) (User, bool, error) {
	probe := User{Email: email}
	s.mu.RLock()
	u, ok := s.byEmail.Get(&probe)
	s.mu.RUnlock()
	if !ok {
		return User{}, false, nil
	}
	return *u, true, nil
}

func (s *handwrittenStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID.Len()
}

func (s *handwrittenStore) Close() error { return nil }

// Snapshot copies the three trees (O(1) each, copy-on-write) under the
// write lock, as Copy writes each tree's isolation id, and drops them.
func (s *handwrittenStore) Snapshot() error {
	s.mu.Lock()
	a, b, c := s.byID.Copy(), s.byEmail.Copy(), s.byOrg.Copy()
	s.mu.Unlock()
	_, _, _ = a, b, c
	return nil
}

// Range reads an email range under the read lock.
func (s *handwrittenStore) Range(lo, hi string) (int, error) {
	n := 0
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.byEmail.Ascend(&User{Email: lo}, func(u *User) bool {
		if u.Email >= hi {
			return false
		}
		n++
		return true
	})
	return n, nil
}
