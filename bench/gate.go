package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// The correctness gate every store must pass before its figures count.
const (
	GateGoroutines = 64
	GateCalls      = 1000 // per goroutine
	GateKeys       = 100
)

// Gate checks s, which must be empty, for a linearizable GetOrCreate:
// GateGoroutines goroutines each call it GateCalls times over GateKeys
// keys; exactly GateKeys calls must report a create, every call on one key
// must return the same record, and Len must be GateKeys afterwards.
func Gate(s Store) error {
	keys := Emails(GateKeys)
	var creates atomic.Int64
	ids := make([]atomic.Int64, GateKeys) // the ID each key was first seen with
	errs := make(chan error, GateGoroutines)
	var start, wg sync.WaitGroup
	start.Add(1)
	for g := range GateGoroutines {
		wg.Go(func() {
			start.Wait()
			for i := range GateCalls {
				k := (g*7 + i) % GateKeys // every goroutine starts elsewhere and visits every key
				u, created, err := s.GetOrCreate(keys[k], NewUser)
				if err != nil {
					errs <- fmt.Errorf("GetOrCreate(%q): %w", keys[k], err)
					return
				}
				if created {
					creates.Add(1)
				}
				if want := NewUser(keys[k]); u.Email != want.Email || u.Name != want.Name || u.Org != want.Org || u.Age != want.Age || u.ID == 0 {
					errs <- fmt.Errorf("GetOrCreate(%q) returned %+v", keys[k], u)
					return
				}
				if !ids[k].CompareAndSwap(0, u.ID) && ids[k].Load() != u.ID {
					errs <- fmt.Errorf("GetOrCreate(%q) returned two records: IDs %d and %d", keys[k], ids[k].Load(), u.ID)
					return
				}
			}
		})
	}
	start.Done()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if n := creates.Load(); n != GateKeys {
		return fmt.Errorf("%d creates reported for %d keys, want exactly %d", n, GateKeys, GateKeys)
	}
	if n := s.Len(); n != GateKeys {
		return fmt.Errorf("Len() = %d after creating %d keys", n, GateKeys)
	}
	seen := map[int64]string{}
	for k, key := range keys {
		u, ok, err := s.Get(key)
		if err != nil || !ok || u.ID != ids[k].Load() {
			return fmt.Errorf("Get(%q) = %+v, %v, %v; GetOrCreate returned ID %d", key, u, ok, err, ids[k].Load())
		}
		if other, dup := seen[u.ID]; dup {
			return fmt.Errorf("%q and %q share ID %d", other, key, u.ID)
		}
		seen[u.ID] = key
	}
	return nil
}

// GateNew runs Gate on a new store of the named implementation.
func GateNew(name string) error {
	s, err := New(name)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := Gate(s); err != nil {
		return fmt.Errorf("bench: %s fails the gate: %w", name, err)
	}
	return nil
}
