// Command quickstart is README's quick start, kept compiling by the tests.
package main

import (
	"errors"
	"fmt"
	"log"
	"sync"

	"github.com/recstore/recstore"
)

type User struct {
	ID    int64
	Email string
	Org   string
	Name  string
}

var (
	ID    = recstore.Field("id", func(u *User) int64 { return u.ID })
	Email = recstore.Field("email", func(u *User) string { return u.Email })
	Org   = recstore.Field("org", func(u *User) string { return u.Org })
	Name  = recstore.Field("name", func(u *User) string { return u.Name })
)

func main() {
	db := recstore.New()
	users, err := recstore.NewTable(db, "User",
		recstore.AutoPrimaryKey(ID, func(u *User, id int64) { u.ID = id }),
		recstore.Unique("user_email", Email),
		recstore.Unique("org_name", Org, Name))
	if err != nil {
		log.Fatal(err)
	}

	// 100 goroutines race to create one user: exactly one creates.
	var wg sync.WaitGroup
	var mu sync.Mutex
	creators := 0
	for range 100 {
		wg.Go(func() {
			_, created, err := users.GetOrCreate(Email.Eq("leo@example.com"), func() (User, error) {
				return User{Email: "leo@example.com", Org: "acme", Name: "Leo"}, nil
			})
			if err != nil {
				log.Fatal(err)
			}
			if created {
				mu.Lock()
				creators++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Println("creators:", creators, "users:", users.Len())

	// Unique constraints hold, and say what they hold against.
	_, err = users.Insert(User{Email: "other@example.com", Org: "acme", Name: "Leo"})
	fmt.Println(err)

	// Get is exactly one, in Django's words.
	_, err = users.Get(Email.Eq("nobody@example.com"))
	fmt.Println(err, errors.Is(err, recstore.ErrNotFound))
}
