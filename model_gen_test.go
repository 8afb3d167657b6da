package recstore

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The generator of the model-based tests: random operations biased toward
// collisions (few emails, usernames and ids; records picked from the
// committed state), lookups and queries, callbacks that fail, panic or
// misbehave, and transactions, views and savepoints that commit, fail or
// panic. A transaction's operations may run outside it, committing while
// it is open (mdlOp.outside), so that its commit must read again what it
// read after its own writes, with its writes applied on top of what
// committed meanwhile.

// mdlDomain is the value space of generated operations. Small sets make
// keys collide often.
type mdlDomain struct {
	prefix    string // of every email and org: the concurrent test's writers keep to their own
	idLo      int64  // explicit ids are idLo+1 … idLo+ids
	ids       int
	emails    int
	usernames int
	auto      bool     // zero ids (auto-assigned) and negative ids may be generated
	scope     *mdlCond // if set, ANDed into every lookup and query
	noLen     bool     // Len reads outside the scope
	whole     bool     // every operation commits at once: nothing runs outside its transaction
	big       bool     // keys at and over MaxKeySize
	maxLen    int      // the table grows to a random size up to maxLen, then shrinks
}

var mdlSingleDomain = mdlDomain{ids: 150, emails: 40, usernames: 20, auto: true, big: true, maxLen: 400}

type mdlGen struct {
	rng  *rand.Rand
	dom  mdlDomain
	db   *mdlDB // the model, whose records the generator picks from
	size int    // the table size past which the generator deletes
	n    int    // operations generated
}

func (g *mdlGen) pct(p int) bool { return g.rng.IntN(100) < p }

// pick returns a stored record of the committed state.
func (g *mdlGen) pick() (User, bool) {
	s := g.db.cur
	if len(s.ids) == 0 {
		return User{}, false
	}
	return *s.recs[s.ids[g.rng.IntN(len(s.ids))]], true
}

// Keys at and just over MaxKeySize.
var (
	mdlEmailMax      = strings.Repeat("y", MaxKeySize)
	mdlEmailOver     = strings.Repeat("x", MaxKeySize+1)
	mdlUsernameLarge = strings.Repeat("u", MaxKeySize-4) // with the empty org, exactly MaxKeySize; with any other, over
)

func (g *mdlGen) email() string {
	switch r := g.rng.IntN(400); {
	case r < 8:
		return g.dom.prefix
	case r < 9 && g.dom.big:
		return mdlEmailOver
	case r < 10 && g.dom.big:
		return mdlEmailMax
	}
	if g.pct(70) {
		return fmt.Sprintf("%se%02d", g.dom.prefix, g.rng.IntN(g.dom.emails))
	}
	return fmt.Sprintf("%sf%03d", g.dom.prefix, g.rng.IntN(1000))
}

var mdlOrgs = []string{"", "a", "a\x00", "ab"}

func (g *mdlGen) org() string { return g.dom.prefix + mdlOrgs[g.rng.IntN(len(mdlOrgs))] }

func (g *mdlGen) username() string {
	switch r := g.rng.IntN(400); {
	case r < 12:
		return ""
	case r < 14 && g.dom.big:
		return mdlUsernameLarge
	}
	if g.pct(70) {
		return fmt.Sprintf("u%d", g.rng.IntN(g.dom.usernames))
	}
	return fmt.Sprintf("v%d", g.rng.IntN(500))
}

var mdlNames = []string{"", "Ann", "Bob", "Al"}

func (g *mdlGen) name() string { return mdlNames[g.rng.IntN(len(mdlNames))] }
func (g *mdlGen) age() int     { return -1 + g.rng.IntN(8) }

func (g *mdlGen) id() int64 {
	if g.dom.auto && g.pct(2) {
		return -1 - int64(g.rng.IntN(2))
	}
	return g.dom.idLo + 1 + int64(g.rng.IntN(g.dom.ids))
}

// newID is the id of a record to insert: mostly auto-assigned where the
// domain allows it.
func (g *mdlGen) newID() int64 {
	if g.dom.auto && g.pct(75) {
		return 0
	}
	return g.id()
}

func (g *mdlGen) rec(id int64) User {
	return User{ID: id, Email: g.email(), Org: g.org(), Username: g.username(), Name: g.name(), Age: g.age()}
}

// strValue and numValue return a value of field f, half the time one a
// stored record holds.
func (g *mdlGen) strValue(f int) string {
	if u, ok := g.pick(); ok && g.pct(50) {
		return mdlStr(&u, f)
	}
	switch f {
	case mdlFEmail:
		return g.email()
	case mdlFOrg:
		return g.org()
	case mdlFUsername:
		return g.username()
	}
	return g.name()
}

func (g *mdlGen) numValue(f int) int64 {
	if u, ok := g.pick(); ok && g.pct(50) {
		return mdlNum(&u, f)
	}
	if f == mdlFID {
		return g.id()
	}
	return int64(g.age())
}

func (g *mdlGen) eq(f int) mdlCond {
	if mdlIsStr(f) {
		return mdlCond{oper: moEq, f: f, s: []string{g.strValue(f)}}
	}
	return mdlCond{oper: moEq, f: f, n: []int64{g.numValue(f)}}
}

// leaf returns a condition on one field; with bad, sometimes one that
// cannot run.
func (g *mdlGen) leaf(bad bool) mdlCond {
	f := g.rng.IntN(mdlFNick)
	if bad && g.pct(2) {
		f = mdlFNick
	}
	ops := []mdlOper{moEq, moNe, moLt, moLe, moGt, moGe, moBetween, moIn, moPrefix}
	op := ops[g.rng.IntN(len(ops))]
	if op == moPrefix && !mdlIsStr(f) && !(bad && g.pct(20)) {
		op = moEq
	}
	c := mdlCond{oper: op, f: f}
	n := 1
	switch op {
	case moBetween:
		n = 2
	case moIn:
		n = g.rng.IntN(4)
	}
	for range n {
		if mdlIsStr(f) {
			c.s = append(c.s, g.strValue(f))
		} else {
			c.n = append(c.n, g.numValue(f))
		}
	}
	if op == moPrefix && mdlIsStr(f) {
		c.s[0] = c.s[0][:g.rng.IntN(len(c.s[0])+1)]
	}
	if op == moPrefix && !mdlIsStr(f) {
		c.s, c.n = nil, []int64{c.n[0]}
	}
	return c
}

// cond returns a random condition tree.
func (g *mdlGen) cond(depth int, bad bool) mdlCond {
	if depth == 0 || g.pct(45) {
		return g.leaf(bad)
	}
	switch r := g.rng.IntN(100); {
	case r < 40:
		return mdlAnd(g.cond(depth-1, bad), g.cond(depth-1, bad))
	case r < 75:
		return mdlCond{oper: moOr, subs: []mdlCond{g.cond(depth-1, bad), g.cond(depth-1, bad)}}
	case r < 95:
		return mdlCond{oper: moNot, subs: []mdlCond{g.cond(depth-1, bad)}}
	case r < 97:
		return mdlCond{oper: moAnd}
	case r < 99:
		return mdlCond{oper: moOr}
	}
	return mdlCond{oper: moAll}
}

func (g *mdlGen) scoped(c mdlCond) mdlCond {
	if g.dom.scope == nil {
		return c
	}
	return mdlAnd(*g.dom.scope, c)
}

// lookup returns a lookup for Get, Delete, GetOrCreate or UpdateOrCreate:
// mostly equalities, often on a stored record's values; with bad,
// sometimes one that cannot run.
func (g *mdlGen) lookup(bad bool) mdlCond {
	var c mdlCond
	switch g.rng.IntN(11) {
	case 0:
		c = g.eq(mdlFID)
	case 1, 2:
		c = g.eq(mdlFEmail)
	case 3:
		c = mdlAnd(g.eq(mdlFOrg), g.eq(mdlFUsername))
	case 4:
		c = g.eq(mdlFAge)
	case 5:
		c = g.eq(mdlFName)
	case 6:
		c = mdlAnd(g.eq(mdlFOrg), g.eq(mdlFAge))
	case 7:
		c = g.eq(mdlFUsername)
	case 8:
		c = mdlAnd(g.eq(mdlFEmail), g.eq(mdlFName))
	case 9:
		c = g.cond(2, false)
	default:
		if g.pct(50) {
			c = mdlCond{oper: moIn, f: mdlFEmail, s: []string{g.strValue(mdlFEmail), g.strValue(mdlFEmail)}}
		} else {
			c = mdlCond{oper: moIn, f: mdlFAge, n: []int64{g.numValue(mdlFAge), g.numValue(mdlFAge)}}
		}
	}
	if bad && g.pct(3) {
		c = mdlAnd(c, g.leaf(true))
		if c.problem() == nil {
			c.subs[1] = mdlCond{oper: moEq, f: mdlFNick, s: []string{"x"}}
		}
	}
	return g.scoped(c)
}

// query returns a Filter query; sometimes one that cannot run.
func (g *mdlGen) query() mdlQuery {
	var q mdlQuery
	for range g.rng.IntN(3) {
		q.conds = append(q.conds, g.cond(2, true))
	}
	if g.dom.scope != nil {
		q.conds = append(q.conds, *g.dom.scope)
	}
	for range g.rng.IntN(3) {
		f := g.rng.IntN(mdlFNick)
		if g.pct(1) {
			f = mdlFNick
		}
		q.order = append(q.order, mdlOrder{f: f, desc: g.pct(50)})
	}
	if g.pct(25) {
		q.offset = 1 + g.rng.IntN(3)
	}
	if g.pct(60) {
		q.hasLimit, q.limit = true, g.rng.IntN(8)
		if g.pct(2) {
			q.limit = -1 - g.rng.IntN(2)
		}
	}
	return q
}

func (g *mdlGen) set() mdlSet {
	s := mdlSet{mask: uint8(1 + g.rng.IntN(31)), u: g.rec(0)}
	if g.pct(30) {
		s.mask = 16 // the unindexed name only
	}
	return s
}

func (g *mdlGen) callback(fail, panics, stray int) mdlCB {
	switch r := g.rng.IntN(100); {
	case r < fail:
		return cbFail
	case r < fail+panics:
		return cbPanic
	case r < fail+panics+stray:
		if g.pct(30) {
			return cbZeroPK
		}
		return cbStray
	}
	return cbOK
}

// Where an operation is generated.
const (
	ctxTop = iota
	ctxTx
	ctxView
	ctxSavepoint
)

// op returns the next operation for context ctx.
func (g *mdlGen) op(ctx int) *mdlOp {
	if ctx == ctxTop && g.dom.maxLen > 0 {
		// Grow the table to a random size, then cut it back, so that the
		// trees split and merge at every degree.
		if g.n%2000 == 0 {
			g.size = 10 + g.rng.IntN(g.dom.maxLen)
		}
		g.n++
		if len(g.db.cur.ids) > g.size && g.pct(20) {
			q := g.query()
			q.conds = []mdlCond{g.scoped(g.cond(1, false))}
			q.hasLimit, q.limit = true, 5+g.rng.IntN(40)
			return &mdlOp{kind: mkQueryDelete, query: q}
		}
	}
	r := g.rng.IntN(100)
	if ctx == ctxTop && g.dom.maxLen > 0 && len(g.db.cur.ids) < g.size && (33 <= r && r < 40 || 78 <= r && r < 81) && g.pct(70) {
		r = g.rng.IntN(33) // growing: fewer deletes
	}
	switch ctx {
	case ctxView:
		// Reads, and now and then a write that must fail.
		if r < 85 {
			r = []int{40, 44, 47, 65, 70, 72, 74, 76, 85}[g.rng.IntN(9)]
		} else {
			r = g.rng.IntN(86)
		}
	case ctxTx: // no nested transactions, but savepoints
		if r >= 89 {
			r = g.rng.IntN(89)
		}
	case ctxSavepoint:
		if r >= 86 {
			r = g.rng.IntN(86)
		}
	}
	if g.dom.noLen && r == 85 {
		r = g.rng.IntN(85)
	}
	return g.build(r, ctx)
}

// The ranges of rolls that build gives each kind of operation.
var (
	mdlRollInsert         = [2]int{0, 16}
	mdlRollUpdate         = [2]int{16, 28}
	mdlRollUpsert         = [2]int{28, 33}
	mdlRollDelete         = [2]int{33, 40}
	mdlRollGet            = [2]int{40, 47}
	mdlRollGetOrCreate    = [2]int{47, 55}
	mdlRollUpdateOrCreate = [2]int{55, 60}
	mdlRollInsertMany     = [2]int{60, 65}
	mdlRollQuery          = [2]int{65, 86} // Collect, All, Count, First, Query.Delete, Query.Update, Len
)

// writeOp returns a write (Insert, Update, Upsert, Delete, GetOrCreate,
// UpdateOrCreate or InsertMany) for context ctx.
func (g *mdlGen) writeOp(ctx int) *mdlOp {
	r := g.rng.IntN(58)
	if r >= mdlRollDelete[1] {
		r += mdlRollGet[1] - mdlRollGet[0]
	}
	return g.build(r, ctx)
}

// readOp returns a read (Get, Collect, All, Count or First) for context ctx.
func (g *mdlGen) readOp(ctx int) *mdlOp {
	r := g.rng.IntN(20)
	if r < 7 {
		return g.build(mdlRollGet[0]+r, ctx)
	}
	return g.build(mdlRollQuery[0]+r-7, ctx)
}

// roll returns a roll in r's range.
func (g *mdlGen) roll(r [2]int) int { return r[0] + g.rng.IntN(r[1]-r[0]) }

// build returns an operation of the kind that roll r (0..99) selects, for
// context ctx.
func (g *mdlGen) build(r, ctx int) *mdlOp {
	switch {
	case r < 12:
		return &mdlOp{kind: mkInsert, rec: g.rec(g.newID())}
	case r < 16:
		return &mdlOp{kind: mkInsert, rec: g.rec(g.id())}
	case r < 26:
		// An update of a stored record that moves some of its keys.
		u, ok := g.pick()
		if !ok {
			u = g.rec(g.id())
		}
		return &mdlOp{kind: mkUpdate, rec: g.set().put(u)}
	case r < 28:
		id := g.id()
		if g.pct(15) {
			id = 0
		}
		return &mdlOp{kind: mkUpdate, rec: g.rec(id)}
	case r < 33:
		if u, ok := g.pick(); ok && g.pct(50) {
			return &mdlOp{kind: mkUpsert, rec: g.set().put(u)}
		}
		return &mdlOp{kind: mkUpsert, rec: g.rec(g.newID())}
	case r < 37:
		return &mdlOp{kind: mkDelete, cond: g.scoped(g.eq(mdlFID))}
	case r < 40:
		return &mdlOp{kind: mkDelete, cond: g.lookup(true)}
	case r < 47:
		return &mdlOp{kind: mkGet, cond: g.lookup(true)}
	case r < 55:
		return &mdlOp{kind: mkGetOrCreate, cond: g.lookup(true), rec: g.rec(g.newID()), onCreate: g.callback(4, 3, 4)}
	case r < 60:
		return &mdlOp{kind: mkUpdateOrCreate, cond: g.lookup(true), rec: g.rec(g.newID()), set: g.set(),
			onCreate: g.callback(3, 2, 3), onUpdate: g.callback(3, 2, 3)}
	case r < 65:
		op := &mdlOp{kind: mkInsertMany, mode: g.rng.IntN(3), set: g.set(), onUpdate: g.callback(3, 2, 2)}
		if g.pct(2) {
			op.mode = imBoth
		}
		for range 1 + g.rng.IntN(5) {
			u := g.rec(g.newID())
			if len(op.recs) > 0 && g.pct(25) { // collide inside the batch
				u.Email = op.recs[g.rng.IntN(len(op.recs))].Email
			}
			op.recs = append(op.recs, u)
		}
		return op
	case r < 71:
		return &mdlOp{kind: mkCollect, query: g.query()}
	case r < 74:
		// All, read to the end or stopped by the caller; its loop may
		// write through the same handle at the first record.
		op := &mdlOp{kind: mkAll, query: g.query()}
		if g.pct(50) {
			op.stop = 1 + g.rng.IntN(3)
		}
		if g.pct(30) {
			op.subs = []*mdlOp{g.writeOp(ctxSavepoint)}
		}
		return op
	case r < 76:
		return &mdlOp{kind: mkCount, query: g.query()}
	case r < 78:
		return &mdlOp{kind: mkFirst, query: g.query()}
	case r < 81:
		q := g.query()
		if g.pct(80) {
			q.hasLimit, q.limit = true, g.rng.IntN(3)
		}
		return &mdlOp{kind: mkQueryDelete, query: q}
	case r < 85:
		return &mdlOp{kind: mkQueryUpdate, query: g.query(), set: g.set(), onUpdate: g.callback(3, 2, 2)}
	case r < 86:
		return &mdlOp{kind: mkLen}
	case r < 89 && ctx == ctxTx:
		return g.block(mkSavepoint, ctxSavepoint, 1+g.rng.IntN(3))
	case r < 97:
		return g.block(mkTx, ctxTx, 1+g.rng.IntN(6))
	}
	return g.block(mkView, ctxView, 1+g.rng.IntN(4))
}

// block returns a transaction, view or savepoint of n operations. In a
// transaction or a view, some run outside it (mdlOp.outside); a quarter of
// the transactions begin with a write, a write outside, then a read.
func (g *mdlGen) block(kind mdlKind, ctx, n int) *mdlOp {
	op := &mdlOp{kind: kind, escape: kind == mkTx && g.pct(20)}
	switch r := g.rng.IntN(100); {
	case r < 60:
		op.end = endCommit
	case r < 80:
		op.end = endError
	default:
		op.end = endPanic
	}
	if kind == mkTx && !g.dom.whole && g.pct(25) {
		outside := g.writeOp(ctxTop)
		outside.outside = true
		op.subs = append(op.subs, g.writeOp(ctx), outside, g.readOp(ctx))
		n = max(0, n-3)
	}
	for range n {
		if kind != mkSavepoint && !g.dom.whole && g.pct(10) {
			outside := g.writeOp(ctxTop)
			outside.outside = true
			op.subs = append(op.subs, outside)
			continue
		}
		op.subs = append(op.subs, g.op(ctx))
	}
	return op
}
