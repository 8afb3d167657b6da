// Package bench measures recstore against the stores a Go program would
// otherwise reach for, under contention: sync.Map, puzpuzpuz/xsync, a map
// or a tidwall/btree behind a sync.RWMutex, hashicorp/go-memdb,
// tidwall/buntdb and modernc.org/sqlite in memory.
//
// Every store implements [Store], an email-keyed get-or-create of [User]
// records, and must pass [Gate], a correctness check, before its figures
// count. The benchmarks live in bench_test.go; `go run ./cmd/report` runs
// them and prints markdown tables with each peer's ratio to recstore.
//
// This is a separate Go module so that the peers' dependencies never enter
// recstore's go.mod.
package bench
