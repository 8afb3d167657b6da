package bench

import (
	"errors"

	"github.com/recstore/recstore"
)

// recstore: a table with an auto-assigned primary key and two unique
// indexes, email and (org, name), so that it pays for what a real table
// has. A hit is one lock-free read of the email index.

var (
	colID    = recstore.Field("id", func(u *User) int64 { return u.ID })
	colEmail = recstore.Field("email", func(u *User) string { return u.Email })
	colOrg   = recstore.Field("org", func(u *User) string { return u.Org })
	colName  = recstore.Field("name", func(u *User) string { return u.Name })
)

type recStore struct {
	db    *recstore.DB
	users *recstore.Table[User]
}

func init() { register("recstore", newRecStore) }

func newRecStore() (Store, error) {
	db := recstore.New()
	users, err := recstore.NewTable(db, "User",
		recstore.AutoPrimaryKey(colID, func(u *User, id int64) { u.ID = id }),
		recstore.Unique("user_email", colEmail),
		recstore.Unique("org_name", colOrg, colName))
	if err != nil {
		return nil, err
	}
	return &recStore{db: db, users: users}, nil
}

func (s *recStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	return s.users.GetOrCreate(colEmail.Eq(email), func() (User, error) { return mk(email), nil })
}

func (s *recStore) Get(email string) (User, bool, error) {
	u, err := s.users.Get(colEmail.Eq(email))
	if errors.Is(err, recstore.ErrNotFound) {
		return User{}, false, nil
	}
	return u, err == nil, err
}

func (s *recStore) Len() int { return s.users.Len() }

func (s *recStore) Close() error { return s.db.Close() }

// Snapshot begins and ends a read-only transaction.
func (s *recStore) Snapshot() error { return s.db.View(viewNothing) }

func viewNothing(*recstore.Tx) error { return nil }

// Range reads the records of an email range through the unique email
// index, in one snapshot, in email order (as the peers' ranges come), so
// that the index streams them.
func (s *recStore) Range(lo, hi string) (int, error) {
	q := s.users.Filter(colEmail.Ge(lo), colEmail.Lt(hi)).OrderBy(colEmail.Asc())
	n := 0
	for _, err := range q.All() {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
