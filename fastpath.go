package recstore

// The fast path. An insert, which is most of what GetOrCreate writes, needs
// no serial step: its record is new, so it only has to claim its unique
// keys. insertFast claims them in the hash indexes (hash.go) under the
// locks of their partitions, so that inserts of different keys run in
// parallel and meet only where their keys do, and commits the record by
// pushing it onto the log (log.go). The trees follow later, in bulk: every
// applyEvery inserts, one of their writers (the applier) applies the log
// to the working trees; readers that need a version before then apply the
// rest themselves (memEngine.latest), as they do for the committer's
// batches.
//
// Everything else (updates, deletes, transactions, schema changes, a
// GetOrCreate whose lookup no unique index covers) goes through the
// committer, which holds the gate alone while it applies a batch: no
// insert of the fast path runs meanwhile, and it first brings the working
// trees up to date, so that its unique checks and queries see every
// commit.

const (
	// applyEvery is how many inserts of the fast path may wait for the
	// working trees before the writer of the next one applies them.
	applyEvery = 256
	// maxLag bounds the inserts that wait for the working trees: past it,
	// writers wait for the applier, so that the log stays bounded when
	// inserts come faster than one goroutine applies them.
	maxLag = 16 * applyEvery
)

// insertFast stores e, a new record, through the hash indexes, if the
// table takes inserts without the committer now; ok false means it did
// nothing and the caller must write through the committer. If lookup is a
// unique index's position, a record holding e's key in that index is
// returned as found, and nothing stored, rather than failing as any other
// unique key taken does (GetOrCreate's atomic step). seq is the insert's
// place in the log: the caller passes it to afterInsert once it holds no
// lock, since applying the log to the trees may take a while.
//
// The field accessors, which hash and compare keys, may panic: every lock
// is released and nothing is stored. None runs while the insert is
// visible in part (inside the partitions' windows).
func (m *memTable[T]) insertFast(e entry[T], lookup int) (found *T, seq uint64, err error, ok bool) {
	en := m.e
	l := m.live.Load()
	if !l.fast || e.sch != l.sch || en.isClosed.Load() {
		return nil, 0, nil, false
	}
	var hbuf [8]uint64
	var pbuf [8]*hashPart[T]
	var sbuf [8]int
	hashes, parts, slots := hbuf[:], pbuf[:], sbuf[:]
	if n := len(l.idx); n > len(pbuf) {
		hashes, parts, slots = make([]uint64, n), make([]*hashPart[T], n), make([]int, n)
	}
	parts = parts[:len(l.idx)]
	for i, x := range l.idx {
		if x != nil && e.in(i) {
			hashes[i] = x.hashOf(e.rec)
		}
	}
	pk, chosen := e.sch.chosenPK(e.rec)

	en.gate.RLock()
	defer func() {
		for i := len(parts) - 1; i >= 0; i-- {
			if parts[i] != nil {
				parts[i].mu.Unlock()
			}
		}
		en.gate.RUnlock()
	}()
	if l = m.live.Load(); !l.fast || e.sch != l.sch {
		return nil, 0, nil, false // a schema change or a pause committed meanwhile
	}
	// Lock the partitions of e's keys in index order, the same for every
	// writer, so that none waits in a cycle, and look for their holders.
	var taken *indexDef[T]
	var holder *T
	for i, x := range l.idx {
		if x == nil || !e.in(i) {
			continue
		}
		h := hashes[i]
		p := x.partFor(h)
		p.mu.Lock()
		parts[i] = p
		held, slot := p.claim(x, e.rec, h)
		slots[i] = slot
		if i > 0 && faultOn(faultSkipUniqueCheck) {
			if held != nil { // the fault: overwrite the holder's entry
				slots[i] = p.tab.Load().slotOf(held, h)
				p.n--
			}
			continue
		}
		switch {
		case held == nil:
		case i == lookup:
			found = held
		case taken == nil:
			taken, holder = x.def, held
		}
	}
	switch {
	case found != nil:
		return found, 0, nil, true
	case taken != nil:
		return nil, 0, violation(e.sch, taken, e.rec, holder), true
	}
	// Store e in every partition and commit it inside their windows, so
	// that no reader sees it in one index and not in another.
	window := !faultOn(faultOpenLive)
	for i, p := range parts {
		if p != nil {
			if window {
				p.seq.Add(1)
			}
			p.add(e.rec, hashes[i], slots[i])
		}
	}
	seq = en.push(m.id, e.rec)
	if chosen {
		e.sch.auto.note(pk)
	}
	for _, p := range parts {
		if p != nil && window {
			p.seq.Add(1)
		}
	}
	return nil, seq, nil, true
}

// push appends an insert of the fast path to the log and returns its seq.
func (e *memEngine) push(table int, rec any) uint64 {
	r := &logRec{table: table, ins: rec}
	for {
		h := e.head.Load()
		r.seq = h.seq + 1
		r.prev.Store(h)
		if e.head.CompareAndSwap(h, r) {
			if e.feed != nil {
				e.feed.put(r, min(e.cur.Load().seq, e.applied.Load()))
			}
			return r.seq
		}
	}
}

// afterInsert applies the log to the working trees, after the insert of
// seq (0: none), if enough inserts wait for them and no one else is
// applying it, or, past maxLag, waits until it can.
func (e *memEngine) afterInsert(seq uint64) {
	applied := e.applied.Load()
	if seq <= applied {
		return // none (0), or the trees hold it already
	}
	switch lag := seq - applied; {
	case lag >= maxLag:
		e.treeMu.Lock()
	case lag >= applyEvery && e.treeMu.TryLock():
	default:
		return
	}
	defer e.treeMu.Unlock()
	w := &e.commit.work
	h, panicked := e.catchUpSafely(w)
	if panicked != nil {
		// The caller's insert committed: the panic is not its own. The
		// inserts stay in the log for the next catch-up, which raises the
		// panic in a call that asked for the trees, if it recurs.
		return
	}
	if w.pending >= maxPending || e.wantFresh.Load() {
		e.publish(w)
		h.prev.Store(nil) // the version holds h and every change before it
	}
}

// catchUp applies to the working trees the inserts of the fast path
// committed since they were last brought up to date, and returns the
// newest change they now hold. The caller holds treeMu. If a field
// accessor panics, the trees keep what they took (each insert is whole),
// and the next catch-up starts again from where this one did.
func (e *memEngine) catchUp(w *working) *logRec {
	h := e.head.Load()
	if h.seq == w.seq {
		return h
	}
	// The log is cut only at versions of the working trees, which are no
	// newer than w.seq, so it reaches back to w.seq; and every change
	// since is an insert: batches bring the trees up to date first.
	recs, _ := since(h, w.seq, w.recs)
	w.recs = recs
	defer clear(recs) // the scratch must not keep the log alive
	if w.inserts == nil {
		w.inserts = map[int][]any{}
	}
	for _, r := range recs {
		w.inserts[r.table] = append(w.inserts[r.table], r.ins)
	}
	defer func() {
		for id, ins := range w.inserts {
			clear(ins)
			w.inserts[id] = ins[:0]
		}
	}()
	for id, ins := range w.inserts {
		if len(ins) > 0 {
			w.tables[id].catchUp(ins)
			w.tables[id].changed(w)
		}
	}
	w.seq = h.seq
	w.pending += len(recs)
	e.applied.Store(w.seq)
	return h
}
