//go:build !recstore_faults

package recstore

// faultOn is constant false outside test builds with the recstore_faults
// tag, so the compiler drops every fault branch from the production build.
func faultOn(fault) bool { return false }

// tornTables is never called outside test builds (see faults_on.go).
func tornTables(_, new tableList) tableList { return new }
