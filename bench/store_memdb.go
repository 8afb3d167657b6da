package bench

import (
	"github.com/hashicorp/go-memdb"
)

// memdbStore: hashicorp/go-memdb with a unique id index and a unique email
// index. A hit is a read transaction's First; a miss opens a write
// transaction (go-memdb runs one at a time), looks again, inserts and
// commits. go-memdb does not enforce unique indexes itself (its issue
// #7): the look-again under the writer lock is what keeps email unique.
type memdbStore struct {
	db   *memdb.MemDB
	next int64 // touched only inside a write transaction
}

const memdbTable = "users"

func init() { register("memdb", newMemdbStore) }

func newMemdbStore() (Store, error) {
	db, err := memdb.NewMemDB(&memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		memdbTable: {
			Name: memdbTable,
			Indexes: map[string]*memdb.IndexSchema{
				"id":    {Name: "id", Unique: true, Indexer: &memdb.IntFieldIndex{Field: "ID"}},
				"email": {Name: "email", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Email"}},
			},
		},
	}})
	if err != nil {
		return nil, err
	}
	return &memdbStore{db: db}, nil
}

func (s *memdbStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	if u, ok, err := s.Get(email); ok || err != nil {
		return u, false, err
	}
	tx := s.db.Txn(true)
	defer tx.Abort() // a no-op after Commit
	raw, err := tx.First(memdbTable, "email", email)
	if err != nil {
		return User{}, false, err
	}
	if raw != nil {
		return *raw.(*User), false, nil
	}
	u := mk(email)
	s.next++
	u.ID = s.next
	stored := u // go-memdb keeps the pointer: store a copy nobody else holds
	if err := tx.Insert(memdbTable, &stored); err != nil {
		s.next--
		return User{}, false, err
	}
	tx.Commit()
	return u, true, nil
}

func (s *memdbStore) Get(email string) (User, bool, error) {
	raw, err := s.db.Txn(false).First(memdbTable, "email", email)
	if err != nil || raw == nil {
		return User{}, false, err
	}
	return *raw.(*User), true, nil
}

func (s *memdbStore) Len() int {
	it, err := s.db.Txn(false).Get(memdbTable, "id")
	if err != nil {
		return -1
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

func (s *memdbStore) Close() error { return nil }

// Snapshot begins and ends a read transaction.
func (s *memdbStore) Snapshot() error {
	s.db.Txn(false).Abort()
	return nil
}

// Range reads an email range from the email index, in one read
// transaction.
func (s *memdbStore) Range(lo, hi string) (int, error) {
	it, err := s.db.Txn(false).LowerBound(memdbTable, "email", lo)
	if err != nil {
		return 0, err
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if raw.(*User).Email >= hi {
			break
		}
		n++
	}
	return n, nil
}
