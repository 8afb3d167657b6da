package recstore_test

import (
	"errors"
	"fmt"

	"github.com/recstore/recstore"
)

// Insert stores a copy of the record and returns it with its primary key
// assigned.
func ExampleTable_Insert() {
	_, authors := newAuthors()
	a, err := authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})
	fmt.Println(a.ID, a.Name, err)
	_, err = authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Lev"})
	fmt.Println(errors.Is(err, recstore.ErrUniqueViolation), authors.Len())
	// Output:
	// 1 Leo Tolstoy <nil>
	// true 1
}

// Update replaces the record with the same primary key; every index
// follows.
func ExampleTable_Update() {
	_, authors := newAuthors()
	a, _ := authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})
	a.Email = "lev@example.com"
	fmt.Println(authors.Update(a))
	got, err := authors.Get(AuthorEmail.Eq("lev@example.com"))
	fmt.Println(got.ID, err)
	_, err = authors.Get(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(err)
	fmt.Println(authors.Update(Author{ID: 42, Email: "nobody@example.com"}))
	// Output:
	// <nil>
	// 1 <nil>
	// Author matching query does not exist.
	// Author matching query does not exist.
}

// Upsert inserts, or replaces the record with the same primary key.
func ExampleTable_Upsert() {
	_, authors := newAuthors()
	a, inserted, _ := authors.Upsert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})
	fmt.Println(a.ID, inserted)
	a.Books = 3
	a, inserted, _ = authors.Upsert(a)
	fmt.Println(a.ID, a.Books, inserted)
	// Output:
	// 1 true
	// 1 3 false
}

// Delete removes the one record matching the lookup and returns it.
func ExampleTable_Delete() {
	_, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy"})
	a, err := authors.Delete(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(a.Name, err, authors.Len())
	_, err = authors.Delete(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(err)
	// Output:
	// Leo Tolstoy <nil> 0
	// Author matching query does not exist.
}

// The duplicates-to-constraint story: find the records that share a value,
// keep one of each group, then add the unique index that keeps it so.
func ExampleTable_Duplicates() {
	db := recstore.New()
	authors, _ := recstore.NewTable(db, "Author",
		recstore.AutoPrimaryKey(AuthorID, func(a *Author, id int64) { a.ID = id }),
		recstore.Fields(AuthorEmail, AuthorName))
	for _, name := range []string{"Leo", "Lev", "Anna", "Leo Tolstoy"} {
		email := "leo@example.com"
		if name == "Anna" {
			email = "anna@example.com"
		}
		authors.Insert(Author{Email: email, Name: name})
	}

	err := authors.AddIndex(recstore.Unique("author_email", AuthorEmail))
	fmt.Println(err)

	groups, _ := authors.Duplicates(AuthorEmail)
	for _, g := range groups {
		fmt.Println(g.Values, len(g.Records))
	}

	// Keep the record with the longest name of each group.
	removed, _ := authors.Dedupe(func(group []Author) int {
		best := 0
		for i, a := range group {
			if len(a.Name) > len(group[best].Name) {
				best = i
			}
		}
		return best
	}, AuthorEmail)
	fmt.Println(len(removed), "removed")

	fmt.Println(authors.AddIndex(recstore.Unique("author_email", AuthorEmail)))
	leo, _ := authors.Get(AuthorEmail.Eq("leo@example.com"))
	fmt.Println(leo.Name)
	// Output:
	// recstore: cannot add unique index "author_email" on Author: 1 group(s) of records share (email): (leo@example.com) held by 1, 2, 4
	// [leo@example.com] 3
	// 2 removed
	// <nil>
	// Leo Tolstoy
}

// Dedupe removes all but one record of each group of duplicates, in one
// atomic step; a nil keep keeps the lowest primary key.
func ExampleTable_Dedupe() {
	db := recstore.New()
	authors, _ := recstore.NewTable(db, "Author",
		recstore.AutoPrimaryKey(AuthorID, func(a *Author, id int64) { a.ID = id }),
		recstore.Fields(AuthorOrg, AuthorName))
	for _, a := range []Author{{Org: "ru", Name: "Leo"}, {Org: "ru", Name: "Leo"}, {Org: "fr", Name: "Leo"}} {
		authors.Insert(a)
	}
	removed, err := authors.Dedupe(nil, AuthorOrg, AuthorName)
	fmt.Println(len(removed), removed[0].ID, err, authors.Len())
	// Output: 1 2 <nil> 2
}

// DropIndex removes an index; a missing one is an error of its own kind.
func ExampleTable_DropIndex() {
	_, authors := newAuthors()
	authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Leo"})
	fmt.Println(authors.DropIndex("author_email"))
	// The email is no longer unique.
	_, err := authors.Insert(Author{Email: "leo@example.com", Org: "ru", Name: "Lev"})
	fmt.Println(err)
	err = authors.DropIndex("author_email")
	fmt.Println(err, errors.Is(err, recstore.ErrIndexNotFound))
	// Output:
	// <nil>
	// <nil>
	// recstore: table Author has no index named "author_email" true
}

type Member struct {
	ID       int64
	Email    string
	Nickname *string // optional: nil is null
}

// OptionalField declares a field that may be null. A unique index over it
// lets any number of records be null, unless NullsNotDistinct.
func ExampleOptionalField() {
	id := recstore.Field("id", func(m *Member) int64 { return m.ID })
	nick := recstore.OptionalField("nickname", func(m *Member) *string { return m.Nickname })
	members, _ := recstore.NewTable(recstore.New(), "Member",
		recstore.AutoPrimaryKey(id, func(m *Member, v int64) { m.ID = v }),
		recstore.Unique("member_nickname", nick))
	leo := "leo"
	members.Insert(Member{Email: "a@example.com"})
	members.Insert(Member{Email: "b@example.com"})
	members.Insert(Member{Email: "c@example.com", Nickname: &leo})
	_, err := members.Insert(Member{Email: "d@example.com", Nickname: &leo})
	fmt.Println(err != nil)
	nulls, _ := members.Filter(nick.IsNull()).Count()
	named, _ := members.Get(nick.Eq("leo"))
	fmt.Println(nulls, named.Email)
	// Output:
	// true
	// 2 c@example.com
}

// And, Or, Not and Where combine conditions (Django's Q objects).
func ExampleOr() {
	_, authors := newAuthors()
	for _, a := range []Author{
		{Email: "leo@example.com", Org: "ru", Name: "Leo", Books: 90},
		{Email: "anna@example.com", Org: "ru", Name: "Anna", Books: 1},
		{Email: "victor@example.com", Org: "fr", Name: "Victor", Books: 50},
	} {
		authors.Insert(a)
	}
	prolificOrFrench := recstore.Or(AuthorBooks.Gt(60), AuthorOrg.Eq("fr"))
	q := authors.Filter(prolificOrFrench).OrderBy(AuthorName.Asc())
	names := func(q *recstore.Query[Author]) []string {
		recs, _ := q.Collect()
		var out []string
		for _, a := range recs {
			out = append(out, a.Name)
		}
		return out
	}
	fmt.Println(names(q))
	fmt.Println(names(authors.Filter(recstore.And(AuthorOrg.Eq("ru"), recstore.Not(AuthorName.Eq("Leo"))))))
	short := recstore.Where(func(a *Author) bool { return len(a.Name) <= 4 })
	fmt.Println(names(authors.Filter(short).OrderBy(AuthorName.Asc())))
	// Output:
	// [Leo Victor]
	// [Anna]
	// [Anna Leo]
}
