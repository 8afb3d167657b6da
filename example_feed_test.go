package recstore_test

import (
	"context"
	"fmt"

	"github.com/recstore/recstore"
)

// Changes reads a table's committed changes after a revision, oldest
// first, from a DB that keeps a change feed (Options.FeedBuffer): an insert has no Old, a delete no New, and the changes of one
// commit share its revision.
func ExampleTable_Changes() {
	db, authors := newAuthors(recstore.Options{FeedBuffer: 1024})
	from := db.Revision()
	leo, _ := authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo"})
	leo.Books = 3
	authors.Update(leo)
	authors.Delete(AuthorEmail.Eq("leo@example.com"))

	for c, err := range authors.Changes(from) {
		switch {
		case err != nil:
			fmt.Println(err)
		case c.Old == nil:
			fmt.Println("inserted", c.New.Name)
		case c.New == nil:
			fmt.Println("deleted", c.Old.Name)
		default:
			fmt.Println("updated", c.Old.Books, "->", c.New.Books)
		}
	}
	// Output:
	// inserted Leo
	// updated 0 -> 3
	// deleted Leo
}

// Follow keeps a copy of a table, a cache say, up to date: read the table
// in a View, then follow its changes from the View's revision, missing and
// repeating none, until the context ends.
func ExampleTable_Follow() {
	db, authors := newAuthors(recstore.Options{FeedBuffer: 1024})
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo"})

	names := map[int64]string{}
	var from uint64
	db.View(func(tx *recstore.Tx) error {
		from = tx.Revision()
		for a, err := range authors.In(tx).Filter().All() {
			if err != nil {
				return err
			}
			names[a.ID] = a.Name
		}
		return nil
	})
	authors.Insert(Author{Email: "anna@example.com", Org: "ru", Name: "Anna"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for c, err := range authors.Follow(ctx, from) {
		if err != nil {
			fmt.Println(err)
			break
		}
		if c.New != nil {
			names[c.New.ID] = c.New.Name
		} else {
			delete(names, c.Old.ID)
		}
		cancel() // one change is all this example waits for
	}
	fmt.Println(names)
	// Output:
	// context canceled
	// map[1:Leo 2:Anna]
}

// Query.Wait returns once a commit changes what the query may return,
// and fires for no other: watch a query by reading it, waiting from the
// revision read, and reading it again.
func ExampleQuery_Wait() {
	db, authors := newAuthors(recstore.Options{FeedBuffer: 1024})
	prolific := authors.Filter(AuthorBooks.Gt(10))
	from := db.Revision()

	fired := make(chan uint64)
	go func() {
		rev, _ := prolific.Wait(context.Background(), from)
		fired <- rev
	}()
	authors.Insert(Author{Email: "anna@example.com", Org: "ru", Name: "Anna", Books: 1}) // not matched: no wake-up
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo", Books: 90})
	fmt.Println(<-fired == db.Revision())
	// Output:
	// true
}
