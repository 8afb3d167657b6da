package recstore_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/recstore/recstore"
)

type Author struct {
	ID    int64
	Email string
	Org   string
	Name  string
	Books int
}

var (
	AuthorID    = recstore.Field("id", func(a *Author) int64 { return a.ID })
	AuthorEmail = recstore.Field("email", func(a *Author) string { return a.Email })
	AuthorOrg   = recstore.Field("org", func(a *Author) string { return a.Org })
	AuthorName  = recstore.Field("name", func(a *Author) string { return a.Name })
	AuthorBooks = recstore.Field("books", func(a *Author) int { return a.Books })
)

func newAuthors(opts ...recstore.Options) (*recstore.DB, *recstore.Table[Author]) {
	db := recstore.New(opts...)
	authors, err := recstore.NewTable(db, "Author",
		recstore.AutoPrimaryKey(AuthorID, func(a *Author, id int64) { a.ID = id }),
		recstore.Unique("author_email", AuthorEmail),
		recstore.Unique("org_name", AuthorOrg, AuthorName),
		recstore.Index("author_books", AuthorBooks))
	if err != nil {
		panic(err)
	}
	return db, authors
}

// Declare fields once, then a table with its primary key and indexes.
func ExampleNewTable() {
	db := recstore.New()
	authors, err := recstore.NewTable(db, "Author",
		recstore.AutoPrimaryKey(AuthorID, func(a *Author, id int64) { a.ID = id }),
		recstore.Unique("author_email", AuthorEmail),
		recstore.Unique("org_name", AuthorOrg, AuthorName))
	if err != nil {
		panic(err)
	}
	leo, _ := authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})
	fmt.Println(leo.ID, leo.Name, authors.Len())
	// Output: 1 Leo Tolstoy 1
}

// Schema mistakes are an error from NewTable, all at once.
func ExampleNewTable_schemaError() {
	_, err := recstore.NewTable(recstore.New(), "Author",
		recstore.Unique("author_email", AuthorEmail),
		recstore.Index("author_email", AuthorName))
	fmt.Println(errors.Is(err, recstore.ErrSchema))
	fmt.Println(err)
	// Output:
	// true
	// recstore: invalid schema for table "Author": no primary key; two indexes are named "author_email"
}

// Get returns exactly one record, or says why not, in Django's words.
func ExampleTable_Get() {
	_, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy", Books: 2})
	authors.Insert(Author{Email: "anna@example.com", Org: "ru", Name: "Anna", Books: 2})

	a, err := authors.Get(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(a.Name, err)

	_, err = authors.Get(AuthorEmail.Eq("nobody@example.com"))
	fmt.Println(err, errors.Is(err, recstore.ErrNotFound))

	_, err = authors.Get(AuthorBooks.Eq(2))
	var multi *recstore.MultipleReturnedError
	fmt.Println(err, errors.As(err, &multi), multi.Count)
	// Output:
	// Leo Tolstoy <nil>
	// Author matching query does not exist. true
	// get() returned more than one Author -- it returned 2! true 2
}

// A write that would break a unique constraint fails, names it, and
// changes nothing.
func ExampleUniqueViolationError() {
	_, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})

	_, err := authors.Insert(Author{Email: "lev@example.com", Org: "ru", Name: "Leo Tolstoy"})
	fmt.Println(err)
	var dup *recstore.UniqueViolationError
	if errors.As(err, &dup) {
		fmt.Println(dup.Constraint, dup.Fields, dup.Values, dup.Existing.(Author).Email)
	}
	fmt.Println(errors.Is(err, recstore.ErrUniqueViolation), authors.Len())
	// Output:
	// recstore: duplicate key value violates unique constraint "org_name" on Author: (org, name)=(ru, Leo Tolstoy) already held by id 1
	// org_name [org name] [ru Leo Tolstoy] leo@example.com
	// true 1
}

// GetOrCreate is atomic: racing callers get one record, one of them created.
func ExampleTable_GetOrCreate() {
	_, authors := newAuthors()
	create := func() (Author, error) {
		return Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"}, nil
	}
	a, created, err := authors.GetOrCreate(AuthorEmail.Eq("leo@example.com"), create)
	fmt.Println(a.ID, created, err)
	a, created, err = authors.GetOrCreate(AuthorEmail.Eq("leo@example.com"), create)
	fmt.Println(a.ID, created, err)
	// Output:
	// 1 true <nil>
	// 1 false <nil>
}

// UpdateOrCreate updates the match, or creates one.
func ExampleTable_UpdateOrCreate() {
	_, authors := newAuthors()
	addBook := func(a Author) (Author, error) { a.Books++; return a, nil }
	create := func() (Author, error) {
		return Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy", Books: 1}, nil
	}
	for range 3 {
		a, created, _ := authors.UpdateOrCreate(AuthorEmail.Eq("leo@example.com"), addBook, create)
		fmt.Println(a.Books, created)
	}
	// Output:
	// 1 true
	// 2 false
	// 3 false
}

// InsertMany stores a batch atomically; OnConflict says what to do with
// collisions.
func ExampleTable_InsertMany() {
	_, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy", Books: 1})
	batch := []Author{
		{Email: "anna@example.com", Org: "ru", Name: "Anna"},
		{Email: "leo@example.com", Org: "ru", Name: "Leo", Books: 5},
	}
	_, err := authors.InsertMany(batch, recstore.OnConflict[Author]{})
	fmt.Println(errors.Is(err, recstore.ErrUniqueViolation), authors.Len())

	res, _ := authors.InsertMany(batch, recstore.OnConflict[Author]{Ignore: true})
	fmt.Println(len(res.Inserted), len(res.Skipped), authors.Len())

	res, _ = authors.InsertMany(batch[1:], recstore.OnConflict[Author]{
		Update: func(existing, proposed Author) (Author, error) {
			existing.Books = proposed.Books
			return existing, nil
		},
	})
	fmt.Println(res.Updated[0].Name, res.Updated[0].Books)
	// Output:
	// true 1
	// 1 1 2
	// Leo Tolstoy 5
}

// View reads one version of every table, whatever commits meanwhile.
func ExampleDB_View() {
	db, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})
	db.View(func(tx *recstore.Tx) error {
		authors.Insert(Author{Email: "anna@example.com", Org: "ru", Name: "Anna"})
		fmt.Println(authors.In(tx).Len(), authors.Len())
		return nil
	})
	// Output: 1 2
}

// The story of a field that should have been unique: Get finds two
// records, Duplicates shows them, AddIndex refuses while they remain,
// Dedupe keeps the oldest, and the constraint then holds.
func ExampleTable_AddIndex() {
	db := recstore.New()
	authors, _ := recstore.NewTable(db, "Author",
		recstore.AutoPrimaryKey(AuthorID, func(a *Author, id int64) { a.ID = id }),
		recstore.Fields(AuthorEmail, AuthorName))
	authors.Insert(Author{Email: "leo@example.com", Name: "Leo Tolstoy"})
	authors.Insert(Author{Email: "leo@example.com", Name: "Lev Tolstoy"})

	_, err := authors.Get(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(err)

	groups, _ := authors.Duplicates(AuthorEmail)
	fmt.Println(len(groups), groups[0].Values, len(groups[0].Records))

	err = authors.AddIndex(recstore.Unique("author_email", AuthorEmail))
	fmt.Println(err)

	removed, _ := authors.Dedupe(nil, AuthorEmail)
	fmt.Println("removed:", removed[0].Name)

	fmt.Println(authors.AddIndex(recstore.Unique("author_email", AuthorEmail)))
	a, err := authors.Get(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(a.Name, err)
	fmt.Println(authors.Filter(AuthorEmail.Eq("leo@example.com")).Explain())

	_, err = authors.Insert(Author{Email: "leo@example.com", Name: "Leo again"})
	fmt.Println(err)
	// Output:
	// get() returned more than one Author -- it returned 2!
	// 1 [leo@example.com] 2
	// recstore: cannot add unique index "author_email" on Author: 1 group(s) of records share (email): (leo@example.com) held by 1, 2
	// removed: Lev Tolstoy
	// <nil>
	// Leo Tolstoy <nil>
	// point author_email (email="leo@example.com")
	// recstore: duplicate key value violates unique constraint "author_email" on Author: (email)=(leo@example.com) already held by id 1
}

// A partial unique constraint: only active accounts need distinct emails.
func ExampleIndexSpec_Where() {
	type Account struct {
		ID     int64
		Email  string
		Active bool
	}
	id := recstore.Field("id", func(a *Account) int64 { return a.ID })
	email := recstore.Field("email", func(a *Account) string { return a.Email })
	active := recstore.Field("active", func(a *Account) bool { return a.Active })
	accounts, _ := recstore.NewTable(recstore.New(), "Account",
		recstore.AutoPrimaryKey(id, func(a *Account, v int64) { a.ID = v }),
		recstore.Unique("active_email", email).Where(active.Eq(true)))

	_, err1 := accounts.Insert(Account{Email: "a@example.com", Active: false})
	_, err2 := accounts.Insert(Account{Email: "a@example.com", Active: true})
	_, err3 := accounts.Insert(Account{Email: "a@example.com", Active: true})
	fmt.Println(err1, err2)
	fmt.Println(err3)
	// Output:
	// <nil> <nil>
	// recstore: duplicate key value violates unique constraint "active_email" on Account: (email)=(a@example.com) already held by id 2
}

// Range over a query with two variables: the loop itself carries the
// error of a query that cannot run, so that it cannot go unnoticed.
func ExampleQuery_All() {
	_, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy", Books: 2})
	authors.Insert(Author{Email: "anna@example.com", Org: "ru", Name: "Anna", Books: 7})

	for a, err := range authors.Filter(AuthorBooks.Gt(1)).OrderBy(AuthorBooks.Desc()).All() {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(a.Name, a.Books)
	}

	pages := recstore.Field("pages", func(a *Author) int { return a.Books * 300 }) // not declared in the table
	for _, err := range authors.Filter(pages.Gt(100)).All() {
		fmt.Println(err)
	}
	// Output:
	// Anna 7
	// Leo Tolstoy 2
	// recstore: table Author has no field "pages" (choices are: id, email, org, name, books)
}

// An index whose fields follow the order yields the records in order, in
// either direction, after the fields that equalities fix: the last
// authors of one org by name read only what they return.
func ExampleQuery_OrderBy() {
	_, authors := newAuthors()
	for i, name := range []string{"Anna", "Boris", "Chekhov", "Dostoevsky"} {
		authors.Insert(Author{Email: fmt.Sprint(i, "@example.com"), Org: "ru", Name: name})
	}
	authors.Insert(Author{Email: "proust@example.com", Org: "fr", Name: "Proust"})

	q := authors.Filter(AuthorOrg.Eq("ru")).OrderBy(AuthorName.Desc()).Limit(2)
	fmt.Println(q.Explain())
	recs, _ := q.Collect()
	for _, a := range recs {
		fmt.Println(a.Name)
	}
	last, _ := authors.Filter(AuthorOrg.Eq("ru")).Latest(AuthorName)
	fmt.Println(last.Name)
	// Output:
	// prefix org_name (org="ru") descending
	// Dostoevsky
	// Chekhov
	// Dostoevsky
}

// Limit and Offset take a slice, and a slice of a slice is a slice of its
// records, as in Python and Django; once sliced, a query's records are
// fixed, and a Filter would change them.
func ExampleQuery_Limit() {
	_, authors := newAuthors()
	for i := range 6 {
		authors.Insert(Author{Email: fmt.Sprint(i, "@example.com"), Name: fmt.Sprint("author ", i)})
	}
	firstFive := authors.Filter().Limit(5)
	recs, _ := firstFive.Offset(4).Collect() // qs[0:5][4:]
	fmt.Println(len(recs), recs[0].Name)
	n, _ := firstFive.Offset(2).Limit(10).Count() // qs[0:5][2:][:10]
	fmt.Println(n)

	_, err := firstFive.Filter(AuthorBooks.Gt(0)).Count()
	fmt.Println(errors.Is(err, recstore.ErrSliced), err)
	// Output:
	// 1 author 4
	// 3
	// true recstore: Author.Filter: cannot filter a query once a slice has been taken
}

// DB.Fork gives each test its own copy of a store seeded once (in
// TestMain, say): forking costs the same whatever the store holds, and
// the copies never see each other's writes. Table.On reaches a table in
// the fork.
func ExampleDB_Fork() {
	seed, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})

	for _, test := range []string{"deletes Leo", "adds Anna"} {
		db, err := seed.Fork()
		if err != nil {
			panic(err)
		}
		mine, err := authors.On(db)
		if err != nil {
			panic(err)
		}
		if test == "deletes Leo" {
			mine.Delete(AuthorEmail.Eq("leo@example.com"))
		} else {
			mine.Insert(Author{Email: "anna@example.com", Org: "ru", Name: "Anna Karenina"})
		}
		fmt.Println(test+":", mine.Len(), "in the fork,", authors.Len(), "in the seed")
		db.Close()
	}
	// Output:
	// deletes Leo: 0 in the fork, 1 in the seed
	// adds Anna: 2 in the fork, 1 in the seed
}

// DB.Load loads fixtures into several tables in one atomic step: records
// from Go values (Records) and from snapshots (SnapshotFixture). If any
// record breaks a constraint, nothing is loaded.
func ExampleDB_Load() {
	db, authors := newAuthors()
	accounts := newAccounts(db)
	err := db.Load(
		recstore.Records(authors, Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"}),
		recstore.Records(accounts, Account{Owner: "leo@example.com", Balance: 100}))
	fmt.Println(err, authors.Len(), accounts.Len())

	err = db.Load(
		recstore.Records(authors, Author{Email: "anna@example.com", Org: "ru", Name: "Anna Karenina"}),
		recstore.Records(accounts, Account{Owner: "leo@example.com"}))
	fmt.Println(errors.Is(err, recstore.ErrUniqueViolation), authors.Len(), accounts.Len())
	// Output:
	// <nil> 1 1
	// true 1 1
}

// DB.Snapshot writes one version of every table to an io.Writer while
// writers go on; DB.Restore loads it into a DB that declares the same
// tables, checking every constraint, or loads nothing.
func ExampleDB_Snapshot() {
	db, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})
	var buf bytes.Buffer
	if err := db.Snapshot(&buf); err != nil {
		panic(err)
	}

	restored, copies := newAuthors()
	err := restored.Restore(bytes.NewReader(buf.Bytes()))
	leo, _ := copies.Get(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(err, leo.ID, leo.Name)

	// A damaged snapshot loads nothing.
	damaged := bytes.Clone(buf.Bytes())
	damaged[len(damaged)/2] ^= 1
	empty, none := newAuthors()
	err = empty.Restore(bytes.NewReader(damaged))
	fmt.Println(errors.Is(err, recstore.ErrSnapshot), none.Len())
	// Output:
	// <nil> 1 Leo Tolstoy
	// true 0
}
