package bench

import (
	"sync"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"
)

// The hash maps: sync.Map (the floor for a concurrent hash lookup),
// puzpuzpuz/xsync and a plain map behind a sync.RWMutex. None has a
// snapshot: a consistent view of any of them costs a full copy.

// syncMapStore: Load, then LoadOrStore. A loser of a race builds a record
// (and burns an ID) that it then drops.
type syncMapStore struct {
	m    sync.Map // email -> *User
	next atomic.Int64
}

func init() {
	register("syncmap", func() (Store, error) { return new(syncMapStore), nil })
	register("xsync", func() (Store, error) { return &xsyncStore{m: xsync.NewMap[string, User]()}, nil })
	register("rwmap", func() (Store, error) { return &rwMapStore{m: map[string]User{}}, nil })
}

func (s *syncMapStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	if v, ok := s.m.Load(email); ok {
		return *v.(*User), false, nil
	}
	u := mk(email)
	u.ID = s.next.Add(1)
	v, loaded := s.m.LoadOrStore(email, &u)
	return *v.(*User), !loaded, nil
}

func (s *syncMapStore) Get(email string) (User, bool, error) {
	if v, ok := s.m.Load(email); ok {
		return *v.(*User), true, nil
	}
	return User{}, false, nil
}

func (s *syncMapStore) Len() int {
	n := 0
	s.m.Range(func(any, any) bool { n++; return true })
	return n
}

func (s *syncMapStore) Close() error { return nil }

// xsyncStore: LoadOrCompute, which reads without a lock and computes under
// the bucket's lock on a miss, at most once per key.
type xsyncStore struct {
	m    *xsync.Map[string, User]
	next atomic.Int64
}

func (s *xsyncStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	u, loaded := s.m.LoadOrCompute(email, func() (User, bool) {
		u := mk(email)
		u.ID = s.next.Add(1)
		return u, false
	})
	return u, !loaded, nil
}

func (s *xsyncStore) Get(email string) (User, bool, error) {
	u, ok := s.m.Load(email)
	return u, ok, nil
}

func (s *xsyncStore) Len() int { return s.m.Size() }

func (s *xsyncStore) Close() error { return nil }

// rwMapStore: double-checked locking, a read-locked lookup, then a
// write-locked lookup and insert.
type rwMapStore struct {
	mu   sync.RWMutex
	m    map[string]User
	next int64 // guarded by mu
}

func (s *rwMapStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	s.mu.RLock()
	u, ok := s.m[email]
	s.mu.RUnlock()
	if ok {
		return u, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.m[email]; ok {
		return u, false, nil
	}
	u = mk(email)
	s.next++
	u.ID = s.next
	s.m[email] = u
	return u, true, nil
}

func (s *rwMapStore) Get(email string) (User, bool, error) {
	s.mu.RLock()
	u, ok := s.m[email]
	s.mu.RUnlock()
	return u, ok, nil
}

func (s *rwMapStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

func (s *rwMapStore) Close() error { return nil }
