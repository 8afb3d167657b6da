package main

// Example runs the quick start and checks what it prints: README.md shows
// the same output, and the root package's TestREADME_QuickStart keeps the
// two alike.
func Example() {
	main()
	// Output:
	// creators: 1 users: 1
	// recstore: duplicate key value violates unique constraint "org_name" on User: (org, name)=(acme, Leo) already held by id 1
	// User matching query does not exist. true
}
