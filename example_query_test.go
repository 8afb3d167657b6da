package recstore_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/recstore/recstore"
)

// seedAuthors inserts five authors: three in org "ru", two in "fr".
func seedAuthors() (*recstore.DB, *recstore.Table[Author]) {
	db, authors := newAuthors()
	for _, a := range []Author{
		{Email: "leo@example.com", Org: "ru", Name: "Leo Tolstoy", Books: 12},
		{Email: "anna@example.com", Org: "ru", Name: "Anna Akhmatova", Books: 3},
		{Email: "fyodor@example.com", Org: "ru", Name: "Fyodor Dostoevsky", Books: 11},
		{Email: "marcel@example.com", Org: "fr", Name: "Marcel Proust", Books: 7},
		{Email: "colette@example.com", Org: "fr", Name: "Colette", Books: 50},
	} {
		if _, err := authors.Insert(a); err != nil {
			panic(err)
		}
	}
	return db, authors
}

func names(recs []Author) string {
	s := make([]string, len(recs))
	for i, a := range recs {
		s[i] = a.Name
	}
	return strings.Join(s, ", ")
}

// Table.Filter starts a query: the records that match every condition.
func ExampleTable_Filter() {
	_, authors := seedAuthors()
	recs, err := authors.Filter(AuthorOrg.Eq("ru"), AuthorBooks.Ge(10)).Collect()
	fmt.Println(names(recs), err)
	// Output: Leo Tolstoy, Fyodor Dostoevsky <nil>
}

// Len is the number of records, read without a lock.
func ExampleTable_Len() {
	_, authors := seedAuthors()
	fmt.Println(authors.Len())
	// Output: 5
}

// Filter on a query narrows it further.
func ExampleQuery_Filter() {
	_, authors := seedAuthors()
	ru := authors.Filter(AuthorOrg.Eq("ru"))
	recs, _ := ru.Filter(AuthorBooks.Lt(12)).OrderBy(AuthorName.Asc()).Collect()
	fmt.Println(names(recs))
	// Output: Anna Akhmatova, Fyodor Dostoevsky
}

// Exclude drops the records that match all of its conditions together.
func ExampleQuery_Exclude() {
	_, authors := seedAuthors()
	recs, _ := authors.Filter().Exclude(AuthorOrg.Eq("ru"), AuthorBooks.Gt(10)).OrderBy(AuthorBooks.Asc()).Collect()
	fmt.Println(names(recs))
	// Output: Anna Akhmatova, Marcel Proust, Colette
}

// Offset skips records in order; with Limit it pages.
func ExampleQuery_Offset() {
	_, authors := seedAuthors()
	byBooks := authors.Filter().OrderBy(AuthorBooks.Desc())
	for page := range 3 {
		recs, _ := byBooks.Offset(2 * page).Limit(2).Collect()
		fmt.Printf("page %d: %s\n", page, names(recs))
	}
	// Output:
	// page 0: Colette, Leo Tolstoy
	// page 1: Fyodor Dostoevsky, Marcel Proust
	// page 2: Anna Akhmatova
}

// Collect returns a query's records in a slice.
func ExampleQuery_Collect() {
	_, authors := seedAuthors()
	recs, err := authors.Filter(AuthorOrg.Eq("fr")).Collect()
	fmt.Println(len(recs), names(recs), err)
	// Output: 2 Marcel Proust, Colette <nil>
}

// Query.Get is Table.Get within the query's records: exactly one.
func ExampleQuery_Get() {
	_, authors := seedAuthors()
	fr := authors.Filter(AuthorOrg.Eq("fr"))
	a, err := fr.Get(AuthorBooks.Gt(10))
	fmt.Println(a.Name, err)
	_, err = fr.Get()
	fmt.Println(err, errors.Is(err, recstore.ErrMultipleReturned))
	// Output:
	// Colette <nil>
	// get() returned more than one Author -- it returned 2! true
}

// First and Last return the ends of a query's order, and false if it is
// empty.
func ExampleQuery_First() {
	_, authors := seedAuthors()
	byBooks := authors.Filter(AuthorOrg.Eq("ru")).OrderBy(AuthorBooks.Asc())
	first, ok, _ := byBooks.First()
	fmt.Println(first.Name, ok)
	_, ok, err := authors.Filter(AuthorOrg.Eq("de")).First()
	fmt.Println(ok, err)
	// Output:
	// Anna Akhmatova true
	// false <nil>
}

// Last is the last record of the order, read from the index's end when an
// index holds the order.
func ExampleQuery_Last() {
	_, authors := seedAuthors()
	last, ok, _ := authors.Filter(AuthorOrg.Eq("ru")).OrderBy(AuthorBooks.Asc()).Last()
	fmt.Println(last.Name, ok)
	// Output: Leo Tolstoy true
}

// Earliest and Latest return the record with the smallest or largest
// values of the fields, or a *NotFoundError.
func ExampleQuery_Earliest() {
	_, authors := seedAuthors()
	a, _ := authors.Filter(AuthorOrg.Eq("fr")).Earliest(AuthorBooks)
	fmt.Println(a.Name)
	_, err := authors.Filter(AuthorOrg.Eq("de")).Earliest(AuthorBooks)
	fmt.Println(err)
	// Output:
	// Marcel Proust
	// Author matching query does not exist.
}

// Latest is Earliest in descending order.
func ExampleQuery_Latest() {
	_, authors := seedAuthors()
	a, _ := authors.Filter(AuthorOrg.Eq("ru")).Latest(AuthorBooks)
	fmt.Println(a.Name)
	// Output: Leo Tolstoy
}

// Count counts a query's records; on a slice, the slice's.
func ExampleQuery_Count() {
	_, authors := seedAuthors()
	n, _ := authors.Filter(AuthorBooks.Between(5, 20)).Count()
	sliced, _ := authors.Filter().Offset(3).Count()
	fmt.Println(n, sliced)
	// Output: 3 2
}

// Exists stops at the first record.
func ExampleQuery_Exists() {
	_, authors := seedAuthors()
	yes, _ := authors.Filter(AuthorName.Prefix("Leo")).Exists()
	no, _ := authors.Filter(AuthorOrg.Eq("de")).Exists()
	fmt.Println(yes, no)
	// Output: true false
}

// Explain says which index a query reads, how, and in which direction.
func ExampleQuery_Explain() {
	_, authors := seedAuthors()
	fmt.Println(authors.Filter(AuthorEmail.Eq("leo@example.com")).Explain())
	fmt.Println(authors.Filter(AuthorBooks.Gt(10)).OrderBy(AuthorBooks.Desc()).Explain())
	fmt.Println(authors.Filter(AuthorName.Prefix("A")).Explain())
	// Output:
	// point author_email (email="leo@example.com")
	// range author_books (books > 10) descending, then sort ties
	// full scan primary
}

// Query.Update replaces each record by a function's result, all in one
// atomic step.
func ExampleQuery_Update() {
	_, authors := seedAuthors()
	n, err := authors.Filter(AuthorOrg.Eq("fr")).Update(func(a Author) (Author, error) {
		a.Books++
		return a, nil
	})
	fmt.Println(n, err)
	c, _ := authors.Get(AuthorName.Eq("Colette"), AuthorOrg.Eq("fr"))
	fmt.Println(c.Books)
	// Output:
	// 2 <nil>
	// 51
}

// Query.Delete deletes a query's records in one atomic step.
func ExampleQuery_Delete() {
	_, authors := seedAuthors()
	n, err := authors.Filter(AuthorBooks.Lt(10)).Delete()
	fmt.Println(n, err, authors.Len())
	// Output: 2 <nil> 3
}

// Query.GetOrCreate looks within the query's records, and the record it
// creates must belong to them.
func ExampleQuery_GetOrCreate() {
	_, authors := seedAuthors()
	fr := authors.Filter(AuthorOrg.Eq("fr"))
	a, created, err := fr.GetOrCreate(AuthorName.Eq("Colette"), func() (Author, error) {
		return Author{Email: "colette2@example.com", Org: "fr", Name: "Colette"}, nil
	})
	fmt.Println(a.Email, created, err)
	a, created, err = fr.GetOrCreate(AuthorName.Eq("Victor Hugo"), func() (Author, error) {
		return Author{Email: "victor@example.com", Org: "fr", Name: "Victor Hugo"}, nil
	})
	fmt.Println(a.ID, created, err)
	// Output:
	// colette@example.com false <nil>
	// 6 true <nil>
}

// InBulk maps each of the given values of a field to its record, in one
// read: the values that match no record are absent.
func ExampleInBulk() {
	_, authors := seedAuthors()
	byEmail, err := recstore.InBulk(authors.Filter(), AuthorEmail, "leo@example.com", "colette@example.com", "nobody@example.com")
	fmt.Println(len(byEmail), byEmail["leo@example.com"].Name, byEmail["colette@example.com"].Name, err)
	// Output: 2 Leo Tolstoy Colette <nil>
}

// And holds when every condition holds; Filter's conditions are already
// joined by And, so And is for building conditions inside Or and Not.
func ExampleAnd() {
	_, authors := seedAuthors()
	prolific := recstore.And(AuthorOrg.Eq("ru"), AuthorBooks.Gt(10))
	recs, _ := authors.Filter(recstore.Or(prolific, AuthorOrg.Eq("fr"))).OrderBy(AuthorName.Asc()).Collect()
	fmt.Println(names(recs))
	// Output: Colette, Fyodor Dostoevsky, Leo Tolstoy, Marcel Proust
}

// Not negates a condition.
func ExampleNot() {
	_, authors := seedAuthors()
	n, _ := authors.Filter(recstore.Not(AuthorOrg.Eq("ru"))).Count()
	fmt.Println(n)
	// Output: 2
}

// Where tests what fields cannot say. No index can serve it: here the
// query reads org_name's records of the org and tests each.
func ExampleWhere() {
	_, authors := seedAuthors()
	q := authors.Filter(AuthorOrg.Eq("ru"), recstore.Where(func(a *Author) bool {
		return strings.HasSuffix(a.Name, "y")
	})).OrderBy(AuthorName.Asc())
	recs, _ := q.Collect()
	fmt.Println(names(recs))
	fmt.Println(q.Explain())
	// Output:
	// Fyodor Dostoevsky, Leo Tolstoy
	// prefix org_name (org="ru")
}
