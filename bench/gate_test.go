package bench

import (
	"runtime"
	"testing"
)

// TestGate runs the correctness gate on every store. The benchmarks of a
// store run only if it passes; they reuse this result in the same process.
func TestGate(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := gateResult(name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// checkThenAct is a GetOrCreate broken on purpose: it does not look again
// under the write lock.
type checkThenAct struct{ rwMapStore }

func (s *checkThenAct) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	if u, ok, _ := s.Get(email); ok {
		return u, false, nil
	}
	runtime.Gosched() // widen the window, as a preemption would
	s.mu.Lock()
	defer s.mu.Unlock()
	u := mk(email)
	s.next++
	u.ID = s.next
	s.m[email] = u
	return u, true, nil
}

// TestGate_CheckThenAct proves the gate fails a store whose GetOrCreate is
// a plain check-then-act, which the race detector cannot see.
func TestGate_CheckThenAct(t *testing.T) {
	if err := Gate(&checkThenAct{rwMapStore{m: map[string]User{}}}); err == nil {
		t.Fatal("the gate passed a check-then-act GetOrCreate")
	} else {
		t.Log("gate error, as expected:", err)
	}
}
