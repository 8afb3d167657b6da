//go:build !recstore_invariants

package recstore

// invariantsOn is false outside builds with the recstore_invariants tag,
// so the compiler drops the check after every batch (check.go).
const invariantsOn = false
