//go:build recstore_invariants

package recstore

// invariantsOn runs the invariant checker after every batch of the
// committer (check.go), in test builds with the recstore_invariants tag.
const invariantsOn = true
