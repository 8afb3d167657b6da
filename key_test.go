package recstore

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyLabel is a named string type: it orders as its underlying type.
type keyLabel string

// keyRec has a field of every key kind.
type keyRec struct {
	ID  int64
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	I   int
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	U   uint
	UP  uintptr
	F32 float32
	F64 float64
	B   bool
	T   time.Time
	S   string
	L   keyLabel
}

func (r keyRec) id() int64 { return r.ID }

var (
	kID  = Field("id", func(r *keyRec) int64 { return r.ID })
	kI8  = Field("i8", func(r *keyRec) int8 { return r.I8 })
	kI16 = Field("i16", func(r *keyRec) int16 { return r.I16 })
	kI32 = Field("i32", func(r *keyRec) int32 { return r.I32 })
	kI64 = Field("i64", func(r *keyRec) int64 { return r.I64 })
	kI   = Field("i", func(r *keyRec) int { return r.I })
	kU8  = Field("u8", func(r *keyRec) uint8 { return r.U8 })
	kU16 = Field("u16", func(r *keyRec) uint16 { return r.U16 })
	kU32 = Field("u32", func(r *keyRec) uint32 { return r.U32 })
	kU64 = Field("u64", func(r *keyRec) uint64 { return r.U64 })
	kU   = Field("u", func(r *keyRec) uint { return r.U })
	kUP  = Field("up", func(r *keyRec) uintptr { return r.UP })
	kF32 = Field("f32", func(r *keyRec) float32 { return r.F32 })
	kF64 = Field("f64", func(r *keyRec) float64 { return r.F64 })
	kB   = Field("b", func(r *keyRec) bool { return r.B })
	kT   = Field("t", func(r *keyRec) time.Time { return r.T })
	kS   = Field("s", func(r *keyRec) string { return r.S })
	kL   = Field("l", func(r *keyRec) keyLabel { return r.L })
)

func keyIndex[V Key](unique bool, name string, c *Column[keyRec, V], rest ...ColumnOf[keyRec]) TableOption[keyRec] {
	if unique {
		return Unique(name, c, rest...)
	}
	return Index(name, c, rest...)
}

// newKeyTable declares table "Keys" of keyRec in a fresh DB: auto primary
// key id, an index named after every other field ("f64", "t", ...), unique
// if unique, and three composite plain indexes: "s_i64" (s, i64),
// "f64_s" (f64, s) and "t_u8_b" (t, u8, b).
func newKeyTable(t testing.TB, unique bool) (*DB, *Table[keyRec]) {
	t.Helper()
	db := newTestDB(t)
	tbl, err := NewTable(db, "Keys",
		AutoPrimaryKey(kID, func(r *keyRec, id int64) { r.ID = id }),
		keyIndex(unique, "i8", kI8), keyIndex(unique, "i16", kI16), keyIndex(unique, "i32", kI32),
		keyIndex(unique, "i64", kI64), keyIndex(unique, "i", kI),
		keyIndex(unique, "u8", kU8), keyIndex(unique, "u16", kU16), keyIndex(unique, "u32", kU32),
		keyIndex(unique, "u64", kU64), keyIndex(unique, "u", kU), keyIndex(unique, "up", kUP),
		keyIndex(unique, "f32", kF32), keyIndex(unique, "f64", kF64), keyIndex(unique, "b", kB),
		keyIndex(unique, "t", kT), keyIndex(unique, "s", kS), keyIndex(unique, "l", kL),
		Index("s_i64", kS, kI64),
		Index("f64_s", kF64, kS),
		Index("t_u8_b", kT, kU8, kB),
	)
	require.NoError(t, err)
	return db, tbl
}

// indexOrder returns the records of tbl's index name in index order.
func indexOrder[T any](t testing.TB, tbl *Table[T], name string) []T {
	t.Helper()
	s := versionOf(tbl)
	for i, d := range s.sch.indexes {
		if d.name == name {
			var out []T
			s.trees[i].Scan(func(r *T) bool {
				out = append(out, *r)
				return true
			})
			return out
		}
	}
	t.Fatalf("table %s has no index %q", tbl.Name(), name)
	return nil
}

func sign(n int) int { return cmp.Compare(n, 0) }

// cmpBool orders bools as keys do: false first.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// requireKeyOrder checks that the keys of vals order and compare equal
// exactly as goCmp orders them.
func requireKeyOrder[V Key](t *testing.T, vals []V, goCmp func(a, b V) int) {
	t.Helper()
	enc := encoder[V](kindOf[V]())
	keys := make([]key, len(vals))
	for i, v := range vals {
		k, err := enc(v)
		require.NoError(t, err, "%v", v)
		keys[i] = k
	}
	for i, a := range vals {
		for j, b := range vals {
			want := sign(goCmp(a, b))
			if got := sign(keys[i].compare(keys[j])); got != want {
				t.Fatalf("key(%#v) vs key(%#v): compare = %d, Go order says %d", a, b, got, want)
			}
			if (keys[i] == keys[j]) != (want == 0) {
				t.Fatalf("key(%#v) == key(%#v) is %v, Go order says %d", a, b, keys[i] == keys[j], want)
			}
		}
	}
}

var (
	keyTimes = []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1900, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Unix(-1, 0),
		time.Unix(-1, 999_999_999),
		time.Unix(0, -1),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Unix(1, 0),
		time.Unix(1<<32, 0),
		time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.FixedZone("X", -7*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	keyStrings = []string{"", "\x00", "\x00\x00", "\x00\x01", "\x01", "a", "a\x00", "a\x00\x00", "a\x00b", "a\x01", "ab", "b", "\xff", "\xff\xff", "é"}
)

func TestKey_Order(t *testing.T) {
	t.Run("int8", func(t *testing.T) {
		requireKeyOrder(t, []int8{math.MinInt8, math.MinInt8 + 1, -2, -1, 0, 1, 2, math.MaxInt8 - 1, math.MaxInt8}, cmp.Compare[int8])
	})
	t.Run("int16", func(t *testing.T) {
		requireKeyOrder(t, []int16{math.MinInt16, -256, -255, -1, 0, 1, 255, 256, math.MaxInt16}, cmp.Compare[int16])
	})
	t.Run("int32", func(t *testing.T) {
		requireKeyOrder(t, []int32{math.MinInt32, -1 << 16, -1, 0, 1, 1 << 16, math.MaxInt32}, cmp.Compare[int32])
	})
	t.Run("int64", func(t *testing.T) {
		requireKeyOrder(t, []int64{math.MinInt64, math.MinInt64 + 1, math.MinInt32 - 1, -1, 0, 1, math.MaxInt32 + 1, math.MaxInt64 - 1, math.MaxInt64}, cmp.Compare[int64])
	})
	t.Run("int", func(t *testing.T) {
		requireKeyOrder(t, []int{math.MinInt, -1, 0, 1, math.MaxInt}, cmp.Compare[int])
	})
	t.Run("uint8", func(t *testing.T) {
		requireKeyOrder(t, []uint8{0, 1, 127, 128, 254, 255}, cmp.Compare[uint8])
	})
	t.Run("uint16", func(t *testing.T) {
		requireKeyOrder(t, []uint16{0, 1, 255, 256, 1 << 15, math.MaxUint16}, cmp.Compare[uint16])
	})
	t.Run("uint32", func(t *testing.T) {
		requireKeyOrder(t, []uint32{0, 1, 1 << 31, math.MaxUint32}, cmp.Compare[uint32])
	})
	t.Run("uint64", func(t *testing.T) {
		requireKeyOrder(t, []uint64{0, 1, 1<<63 - 1, 1 << 63, math.MaxUint64 - 1, math.MaxUint64}, cmp.Compare[uint64])
	})
	t.Run("uint", func(t *testing.T) {
		requireKeyOrder(t, []uint{0, 1, 1 << 63, math.MaxUint}, cmp.Compare[uint])
	})
	t.Run("uintptr", func(t *testing.T) {
		requireKeyOrder(t, []uintptr{0, 1, 1 << 40, ^uintptr(0)}, cmp.Compare[uintptr])
	})
	t.Run("float64", func(t *testing.T) {
		requireKeyOrder(t, []float64{
			math.Inf(-1), -math.MaxFloat64, -1e300, -1, -math.SmallestNonzeroFloat64 * 2, -math.SmallestNonzeroFloat64,
			math.Copysign(0, -1), 0, math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64 * 2,
			0x1p-1022, 1, 1 + 0x1p-52, 1e300, math.MaxFloat64, math.Inf(1),
		}, cmp.Compare[float64])
	})
	t.Run("float32", func(t *testing.T) {
		requireKeyOrder(t, []float32{
			float32(math.Inf(-1)), -math.MaxFloat32, -1, -math.SmallestNonzeroFloat32,
			float32(math.Copysign(0, -1)), 0, math.SmallestNonzeroFloat32, 1, 1.0000001, math.MaxFloat32, float32(math.Inf(1)),
		}, cmp.Compare[float32])
	})
	t.Run("bool", func(t *testing.T) {
		requireKeyOrder(t, []bool{false, true}, cmpBool)
	})
	t.Run("time", func(t *testing.T) {
		now := time.Now() // with a monotonic reading
		requireKeyOrder(t, append(slices.Clone(keyTimes), now, now.Round(0), now.In(time.FixedZone("Y", 5*3600+1800))), time.Time.Compare)
	})
	t.Run("string", func(t *testing.T) {
		requireKeyOrder(t, keyStrings, strings.Compare)
	})
	t.Run("named string", func(t *testing.T) {
		var labels []keyLabel
		for _, s := range keyStrings {
			labels = append(labels, keyLabel(s))
		}
		requireKeyOrder(t, labels, cmp.Compare[keyLabel])
	})
}

// cmpRec compares records by the fields of a composite index, then by id as
// a plain index does.
func cmpRec(fields ...func(a, b keyRec) int) func(a, b keyRec) int {
	return func(a, b keyRec) int {
		for _, f := range fields {
			if c := f(a, b); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.ID, b.ID)
	}
}

var (
	byS   = func(a, b keyRec) int { return strings.Compare(a.S, b.S) }
	byI64 = func(a, b keyRec) int { return cmp.Compare(a.I64, b.I64) }
	byF64 = func(a, b keyRec) int { return cmp.Compare(a.F64, b.F64) }
	byT   = func(a, b keyRec) int { return a.T.Compare(b.T) }
	byU8  = func(a, b keyRec) int { return cmp.Compare(a.U8, b.U8) }
	byB   = func(a, b keyRec) int { return cmpBool(a.B, b.B) }
)

// requireIndexOrders checks that every index of a table from newKeyTable
// holds its records in Go order of its fields, then primary key.
func requireIndexOrders(t *testing.T, tbl *Table[keyRec]) {
	t.Helper()
	single := map[string]func(a, b keyRec) int{
		"i8":  func(a, b keyRec) int { return cmp.Compare(a.I8, b.I8) },
		"i16": func(a, b keyRec) int { return cmp.Compare(a.I16, b.I16) },
		"i32": func(a, b keyRec) int { return cmp.Compare(a.I32, b.I32) },
		"i64": byI64,
		"i":   func(a, b keyRec) int { return cmp.Compare(a.I, b.I) },
		"u8":  byU8,
		"u16": func(a, b keyRec) int { return cmp.Compare(a.U16, b.U16) },
		"u32": func(a, b keyRec) int { return cmp.Compare(a.U32, b.U32) },
		"u64": func(a, b keyRec) int { return cmp.Compare(a.U64, b.U64) },
		"u":   func(a, b keyRec) int { return cmp.Compare(a.U, b.U) },
		"up":  func(a, b keyRec) int { return cmp.Compare(a.UP, b.UP) },
		"f32": func(a, b keyRec) int { return cmp.Compare(a.F32, b.F32) },
		"f64": byF64,
		"b":   byB,
		"t":   byT,
		"s":   byS,
		"l":   func(a, b keyRec) int { return cmp.Compare(a.L, b.L) },
	}
	orders := map[string]func(a, b keyRec) int{
		"primary": func(a, b keyRec) int { return cmp.Compare(a.ID, b.ID) },
		"s_i64":   cmpRec(byS, byI64),
		"f64_s":   cmpRec(byF64, byS),
		"t_u8_b":  cmpRec(byT, byU8, byB),
	}
	for name, f := range single {
		orders[name] = cmpRec(f)
	}
	want := dump(t, tbl)
	for name, order := range orders {
		got := indexOrder(t, tbl, name)
		sorted := slices.Clone(want)
		slices.SortStableFunc(sorted, order)
		// Compare ids: times in other zones are Equal but not ==.
		require.Equal(t, idsOf(sorted), idsOf(got), "index %q", name)
	}
}

// TestKey_IndexOrder stores records with edge values of every kind and
// checks that every index, single or composite, scans in Go order.
func TestKey_IndexOrder(t *testing.T) {
	_, tbl := newKeyTable(t, false)
	n := max(len(keyStrings), len(keyTimes))
	ints := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	floats := []float64{math.Inf(-1), -1, math.Copysign(0, -1), 0, math.SmallestNonzeroFloat64, 1, math.Inf(1)}
	for i := range 3 * n {
		r := keyRec{
			I8: int8(ints[i%len(ints)]), I16: int16(ints[(i+1)%len(ints)]), I32: int32(ints[(i+2)%len(ints)]),
			I64: ints[i%len(ints)], I: int(ints[(i+3)%len(ints)]),
			U8: uint8(ints[i%len(ints)]), U16: uint16(ints[(i+1)%len(ints)]), U32: uint32(ints[(i+2)%len(ints)]),
			U64: uint64(ints[(i+3)%len(ints)]), U: uint(ints[(i+4)%len(ints)]), UP: uintptr(ints[i%len(ints)]),
			F32: float32(floats[(i+1)%len(floats)]), F64: floats[i%len(floats)],
			B: i%3 == 0,
			T: keyTimes[i%len(keyTimes)],
			S: keyStrings[i%len(keyStrings)],
			L: keyLabel(keyStrings[(i+5)%len(keyStrings)]),
		}
		_, err := tbl.Insert(r)
		require.NoError(t, err)
	}
	requireIndexOrders(t, tbl)
}

// TestKey_Composite_Order checks composite keys pairwise: a composite key
// orders as the tuple of its fields, and no string field runs into the
// next.
func TestKey_Composite_Order(t *testing.T) {
	_, tbl := newKeyTable(t, false)
	s := versionOf(tbl)
	indexNamed := func(name string) *indexDef[keyRec] {
		for _, d := range s.sch.indexes {
			if d.name == name {
				return d
			}
		}
		t.Fatalf("no index %q", name)
		return nil
	}
	var recs []keyRec
	for _, a := range keyStrings {
		for _, n := range []int64{math.MinInt64, -1, 0, 1, 256, math.MaxInt64} {
			recs = append(recs, keyRec{S: a, I64: n, F64: float64(n), T: time.Unix(n%1e10, 0), U8: uint8(n), B: n > 0})
		}
	}
	tests := []struct {
		index string
		order func(a, b keyRec) int
	}{
		{"s_i64", func(a, b keyRec) int { return cmp.Or(byS(a, b), byI64(a, b)) }},
		{"f64_s", func(a, b keyRec) int { return cmp.Or(byF64(a, b), byS(a, b)) }},
		{"t_u8_b", func(a, b keyRec) int { return cmp.Or(byT(a, b), byU8(a, b), byB(a, b)) }},
	}
	for _, tt := range tests {
		t.Run(tt.index, func(t *testing.T) {
			d := indexNamed(tt.index)
			keys := make([]key, len(recs))
			for i := range recs {
				var err error
				keys[i], err = d.keyOf(&recs[i])
				require.NoError(t, err)
				size, err := d.keySize(&recs[i])
				require.NoError(t, err)
				require.Equal(t, len(keys[i].s), size, "keySize of %+v", recs[i])
			}
			for i := range recs {
				for j := range recs {
					want := sign(tt.order(recs[i], recs[j]))
					require.Equal(t, want, sign(keys[i].compare(keys[j])), "%+v vs %+v", recs[i], recs[j])
				}
			}
		})
	}
}

// TestKey_Order_Random compares the order of random keys with Go's, for
// every kind and for composite keys, and stores them to check the index
// orders. Replay a failure with -recstore.seed.
func TestKey_Order_Random(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	const n = 150
	pick := func(edges int) bool { return rng.IntN(3) == 0 && edges > 0 }
	randInt := func(bits uint) int64 {
		edges := []int64{-1 << (bits - 1), -1<<(bits-1) + 1, -1, 0, 1, 1<<(bits-1) - 2, 1<<(bits-1) - 1}
		if pick(len(edges)) {
			return edges[rng.IntN(len(edges))]
		}
		return int64(rng.Uint64()<<(64-bits)) >> (64 - bits)
	}
	randUint := func(bits uint) uint64 {
		edges := []uint64{0, 1, 1<<(bits-1) - 1, 1 << (bits - 1), 1<<bits - 1}
		if bits == 64 {
			edges[len(edges)-1] = math.MaxUint64
		}
		if pick(len(edges)) {
			return edges[rng.IntN(len(edges))]
		}
		return rng.Uint64() >> (64 - bits)
	}
	randFloat := func() float64 {
		edges := []float64{math.Inf(-1), math.Inf(1), 0, math.Copysign(0, -1), math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64, 1, -1}
		switch rng.IntN(3) {
		case 0:
			return edges[rng.IntN(len(edges))]
		case 1:
			return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		}
		for {
			if f := math.Float64frombits(rng.Uint64()); !math.IsNaN(f) {
				return f
			}
		}
	}
	zones := []*time.Location{time.UTC, time.FixedZone("A", -12*3600), time.FixedZone("B", 3600+1800), time.Local}
	randTime := func() time.Time {
		if pick(len(keyTimes)) {
			return keyTimes[rng.IntN(len(keyTimes))].In(zones[rng.IntN(len(zones))])
		}
		sec := rng.Int64N(1<<36) - 1<<35
		if rng.IntN(2) == 0 {
			sec = rng.Int64N(4) - 2
		}
		return time.Unix(sec, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
	}
	alphabet := []byte{0x00, 0x01, 'a', 'b', 0xfe, 0xff}
	randString := func() string {
		b := make([]byte, rng.IntN(5))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}

	recs := make([]keyRec, n)
	for i := range recs {
		recs[i] = keyRec{
			I8: int8(randInt(8)), I16: int16(randInt(16)), I32: int32(randInt(32)), I64: randInt(64), I: int(randInt(64)),
			U8: uint8(randUint(8)), U16: uint16(randUint(16)), U32: uint32(randUint(32)), U64: randUint(64),
			U: uint(randUint(64)), UP: uintptr(randUint(64)),
			F32: float32(randFloat()), F64: randFloat(),
			B: rng.IntN(2) == 0,
			T: randTime(),
			S: randString(), L: keyLabel(randString()),
		}
	}
	t.Run("int8", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) int8 { return r.I8 }), cmp.Compare[int8])
	})
	t.Run("int16", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) int16 { return r.I16 }), cmp.Compare[int16])
	})
	t.Run("int32", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) int32 { return r.I32 }), cmp.Compare[int32])
	})
	t.Run("int64", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) int64 { return r.I64 }), cmp.Compare[int64])
	})
	t.Run("int", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) int { return r.I }), cmp.Compare[int])
	})
	t.Run("uint8", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) uint8 { return r.U8 }), cmp.Compare[uint8])
	})
	t.Run("uint16", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) uint16 { return r.U16 }), cmp.Compare[uint16])
	})
	t.Run("uint32", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) uint32 { return r.U32 }), cmp.Compare[uint32])
	})
	t.Run("uint64", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) uint64 { return r.U64 }), cmp.Compare[uint64])
	})
	t.Run("uint", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) uint { return r.U }), cmp.Compare[uint])
	})
	t.Run("uintptr", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) uintptr { return r.UP }), cmp.Compare[uintptr])
	})
	t.Run("float32", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) float32 { return r.F32 }), cmp.Compare[float32])
	})
	t.Run("float64", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) float64 { return r.F64 }), cmp.Compare[float64])
	})
	t.Run("bool", func(t *testing.T) { requireKeyOrder(t, fieldVals(recs, func(r keyRec) bool { return r.B }), cmpBool) })
	t.Run("time", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) time.Time { return r.T }), time.Time.Compare)
	})
	t.Run("string", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) string { return r.S }), strings.Compare)
	})
	t.Run("named string", func(t *testing.T) {
		requireKeyOrder(t, fieldVals(recs, func(r keyRec) keyLabel { return r.L }), cmp.Compare[keyLabel])
	})
	t.Run("stored", func(t *testing.T) {
		_, tbl := newKeyTable(t, false)
		for _, r := range recs {
			_, err := tbl.Insert(r)
			require.NoError(t, err)
		}
		requireIndexOrders(t, tbl)
		// Every value finds exactly the records Go calls equal.
		for _, r := range recs[:20] {
			want := 0
			for _, o := range recs {
				if o.T.Equal(r.T) {
					want++
				}
			}
			got, err := tbl.Get(kT.Eq(r.T))
			if want == 1 {
				require.NoError(t, err)
				assert.True(t, got.T.Equal(r.T))
			} else {
				var mr *MultipleReturnedError
				require.ErrorAs(t, err, &mr)
				assert.Equal(t, want, mr.Count)
			}
		}
	})
}

func fieldVals[V any](recs []keyRec, f func(r keyRec) V) []V {
	out := make([]V, len(recs))
	for i, r := range recs {
		out[i] = f(r)
	}
	return out
}

// TestKey_Equal_Unique checks that values Go calls equal are one key of a
// unique index, and values it does not are distinct keys.
func TestKey_Equal_Unique(t *testing.T) {
	instant := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name       string
		first      keyRec
		second     keyRec
		constraint string // "" when both may be stored
	}{
		{"minus zero equals zero", keyRec{F64: math.Copysign(0, -1)}, keyRec{F64: 0}, "f64"},
		{"zero equals minus zero", keyRec{F64: 0}, keyRec{F64: math.Copysign(0, -1)}, "f64"},
		{"float32 minus zero", keyRec{F32: float32(math.Copysign(0, -1))}, keyRec{F32: 0}, "f32"},
		{"smallest float is not zero", keyRec{F64: 0}, keyRec{F64: math.SmallestNonzeroFloat64}, ""},
		{"infinities", keyRec{F64: math.Inf(1)}, keyRec{F64: math.Inf(-1)}, ""},
		{"equal instants in other zones", keyRec{T: instant}, keyRec{T: instant.In(time.FixedZone("CET", 3600))}, "t"},
		{"a nanosecond apart", keyRec{T: instant}, keyRec{T: instant.Add(time.Nanosecond)}, ""},
		{"before 1970", keyRec{T: time.Unix(-1, 5)}, keyRec{T: time.Unix(-1, 5).In(time.FixedZone("Z", -3600))}, "t"},
		{"string with NUL", keyRec{S: "a"}, keyRec{S: "a\x00"}, ""},
		{"named string", keyRec{L: "x"}, keyRec{L: "x"}, "l"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, tbl := newKeyTable(t, true)
			// Give every other unique field distinct values.
			tt.first.I8, tt.second.I8 = 1, 2
			tt.first.I16, tt.second.I16 = 1, 2
			tt.first.I32, tt.second.I32 = 1, 2
			tt.first.I64, tt.second.I64 = 1, 2
			tt.first.I, tt.second.I = 1, 2
			tt.first.U8, tt.second.U8 = 1, 2
			tt.first.U16, tt.second.U16 = 1, 2
			tt.first.U32, tt.second.U32 = 1, 2
			tt.first.U64, tt.second.U64 = 1, 2
			tt.first.U, tt.second.U = 1, 2
			tt.first.UP, tt.second.UP = 1, 2
			tt.first.B, tt.second.B = false, true
			if tt.first.F32 == tt.second.F32 && tt.constraint != "f32" {
				tt.first.F32, tt.second.F32 = 1, 2
			}
			if tt.first.F64 == tt.second.F64 && tt.constraint != "f64" {
				tt.first.F64, tt.second.F64 = 1, 2
			}
			if tt.first.T.Equal(tt.second.T) && tt.constraint != "t" {
				tt.first.T, tt.second.T = time.Unix(1, 0), time.Unix(2, 0)
			}
			if tt.first.S == tt.second.S {
				tt.first.S, tt.second.S = "1", "2"
			}
			if tt.first.L == tt.second.L && tt.constraint != "l" {
				tt.first.L, tt.second.L = "1", "2"
			}
			first, err := tbl.Insert(tt.first)
			require.NoError(t, err)
			before := dump(t, tbl)
			_, err = tbl.Insert(tt.second)
			if tt.constraint == "" {
				require.NoError(t, err)
				assert.Equal(t, 2, tbl.Len())
				return
			}
			var uv *UniqueViolationError
			require.ErrorAs(t, err, &uv)
			assert.Equal(t, tt.constraint, uv.Constraint)
			assert.Equal(t, first, uv.Existing)
			assert.Equal(t, before, dump(t, tbl))
			// The second value finds the first record.
			var got keyRec
			switch tt.constraint {
			case "f64":
				got, err = tbl.Get(kF64.Eq(tt.second.F64))
			case "f32":
				got, err = tbl.Get(kF32.Eq(tt.second.F32))
			case "t":
				got, err = tbl.Get(kT.Eq(tt.second.T))
			case "l":
				got, err = tbl.Get(kL.Eq(tt.second.L))
			}
			require.NoError(t, err)
			assert.Equal(t, first, got)
		})
	}
}

func TestKey_NaN(t *testing.T) {
	nan := math.NaN()
	t.Run("condition", func(t *testing.T) {
		_, tbl := newKeyTable(t, false)
		_, err := tbl.Insert(keyRec{F64: 1})
		require.NoError(t, err)
		tests := []struct {
			name  string
			field string
			cond  Cond[keyRec]
		}{
			{"float64", "f64", kF64.Eq(nan)},
			{"float32", "f32", kF32.Eq(float32(nan))},
			{"inside And", "f64", And(kS.Eq(""), kF64.Eq(nan))},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := `recstore: invalid key in table Keys for field "` + tt.field + `": NaN cannot be compared`
				check := func(err error) {
					t.Helper()
					require.ErrorIs(t, err, ErrInvalidKey)
					var ke *KeyError
					require.ErrorAs(t, err, &ke)
					assert.Equal(t, "Keys", ke.Table)
					assert.Equal(t, tt.field, ke.Field)
					assert.Equal(t, "NaN cannot be compared", ke.Reason)
					assert.Equal(t, want, err.Error())
				}
				before := dump(t, tbl)
				_, err := tbl.Get(tt.cond)
				check(err)
				_, err = tbl.Delete(tt.cond)
				check(err)
				_, _, err = tbl.GetOrCreate(tt.cond, func() (keyRec, error) {
					t.Error("create called")
					return keyRec{}, nil
				})
				check(err)
				assert.Equal(t, before, dump(t, tbl))
			})
		}
	})
	t.Run("record", func(t *testing.T) {
		_, tbl := newKeyTable(t, true)
		stored, err := tbl.Insert(keyRec{F64: 1, F32: 1})
		require.NoError(t, err)
		before := dump(t, tbl)
		tests := []struct {
			name  string
			field string
			write func(r keyRec) error
			rec   keyRec
		}{
			{"insert float64", "f64", insertErr(tbl), keyRec{F64: nan}},
			{"insert float32", "f32", insertErr(tbl), keyRec{F32: float32(nan)}},
			{"upsert", "f64", upsertErr(tbl), keyRec{F64: nan}},
			{"update", "f64", tbl.Update, keyRec{ID: stored.ID, F64: nan}},
			{"upsert existing", "f64", upsertErr(tbl), keyRec{ID: stored.ID, F64: nan}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.write(tt.rec)
				require.ErrorIs(t, err, ErrInvalidKey)
				var ke *KeyError
				require.ErrorAs(t, err, &ke)
				assert.Equal(t, "Keys", ke.Table)
				assert.Equal(t, tt.field, ke.Field)
				assert.Equal(t, `recstore: invalid key in table Keys for field "`+tt.field+`": NaN cannot be compared`, err.Error())
				assert.Equal(t, before, dump(t, tbl))
			})
		}
		// The next valid insert succeeds (failed inserts may have taken
		// auto-assigned keys: a sequence leaves gaps).
		r, err := tbl.Insert(keyRec{F64: 2, F32: 2, I8: 2, I16: 2, I32: 2, I64: 2, I: 2, U8: 2, U16: 2, U32: 2, U64: 2, U: 2, UP: 2, B: true, T: time.Unix(2, 0), S: "2", L: "2"})
		require.NoError(t, err)
		assert.Greater(t, r.ID, stored.ID)
		assert.Equal(t, 2, tbl.Len())
	})
}

func insertErr[T any](tbl *Table[T]) func(T) error {
	return func(r T) error { _, err := tbl.Insert(r); return err }
}

func upsertErr[T any](tbl *Table[T]) func(T) error {
	return func(r T) error { _, _, err := tbl.Upsert(r); return err }
}

func TestKey_MaxKeySize(t *testing.T) {
	big := strings.Repeat("x", MaxKeySize+1)
	atMax := strings.Repeat("x", MaxKeySize)
	tooLarge := func(field string, n int) string {
		if field == "" {
			return fmt.Sprintf("recstore: key too large in table User: key of %d bytes is over MaxKeySize (%d)", n, MaxKeySize)
		}
		return fmt.Sprintf("recstore: key too large in table User for field %q: key of %d bytes is over MaxKeySize (%d)", field, n, MaxKeySize)
	}
	tests := []struct {
		name string
		rec  User
		err  string // "" when the record fits
	}{
		{"email at the limit", User{Email: atMax, Org: "o", Username: "1"}, ""},
		{"email over the limit", User{Email: big, Org: "o", Username: "1"}, tooLarge("email", MaxKeySize+1)},
		{"email far over the limit", User{Email: big + big, Org: "o", Username: "1"}, tooLarge("email", 2*MaxKeySize+2)},
		// A composite key counts 2 bytes of terminator per string.
		{"composite at the limit", User{Email: "a", Org: strings.Repeat("o", MaxKeySize-4)}, ""},
		{"composite over the limit", User{Email: "a", Org: strings.Repeat("o", MaxKeySize-3)}, tooLarge("", MaxKeySize+1)},
		{"composite split over the limit", User{Email: "a", Org: strings.Repeat("o", 2000), Username: strings.Repeat("u", MaxKeySize-2000-3)}, tooLarge("", MaxKeySize+1)},
		// A NUL byte is escaped to two bytes.
		{"escaped composite at the limit", User{Email: "a", Org: strings.Repeat("\x00", (MaxKeySize-4)/2)}, ""},
		{"escaped composite over the limit", User{Email: "a", Org: strings.Repeat("\x00", (MaxKeySize-4)/2+1)}, tooLarge("", MaxKeySize+2)},
	}
	writes := []struct {
		name string
		do   func(users *Table[User], first, u User) error
	}{
		{"insert", func(users *Table[User], _, u User) error { _, err := users.Insert(u); return err }},
		{"upsert", func(users *Table[User], _, u User) error { _, _, err := users.Upsert(u); return err }},
		{"update", func(users *Table[User], first, u User) error { u.ID = first.ID; return users.Update(u) }},
	}
	for _, tt := range tests {
		for _, write := range writes {
			t.Run(tt.name+"/"+write.name, func(t *testing.T) {
				_, users := newUsers(t)
				first, err := users.Insert(User{Email: "first@example.com", Org: "o", Username: "first"})
				require.NoError(t, err)
				before := dump(t, users)

				err = write.do(users, first, tt.rec)
				if tt.err == "" {
					require.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, ErrKeyTooLarge)
				var ke *KeyError
				require.ErrorAs(t, err, &ke)
				assert.Equal(t, "User", ke.Table)
				assert.Equal(t, tt.err, err.Error())
				assert.Equal(t, before, dump(t, users))
				// The next valid call succeeds.
				u, err := users.Insert(User{Email: "next@example.com", Org: "o", Username: "next"})
				require.NoError(t, err)
				assert.Greater(t, u.ID, first.ID)
				assert.Equal(t, 2, users.Len())
			})
		}
	}
}

// TestKey_MaxKeySize_Optional: an optional field's key counts its value's
// own bytes, as a required field's does: a value of MaxKeySize bytes is
// stored, one byte more is not (it was counted with the bytes that mark an
// optional key, and refused at MaxKeySize-2).
func TestKey_MaxKeySize_Optional(t *testing.T) {
	type rec struct {
		ID   int64
		Nick *string
	}
	id := Field("id", func(r *rec) int64 { return r.ID })
	nick := OptionalField("nick", func(r *rec) *string { return r.Nick })
	tbl, err := NewTable(newTestDB(t), "Rec", PrimaryKey(id), Unique("rec_nick", nick), Index("rec_nick_plain", nick))
	require.NoError(t, err)
	str := func(n int) *string { s := strings.Repeat("n", n); return &s }

	_, err = tbl.Insert(rec{ID: 1, Nick: str(MaxKeySize)})
	require.NoError(t, err, "a value of MaxKeySize bytes")
	got, err := tbl.Get(nick.Eq(*str(MaxKeySize)))
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.ID)

	_, err = tbl.Insert(rec{ID: 2, Nick: str(MaxKeySize + 1)})
	require.Equal(t, &KeyError{Table: "Rec", Field: "nick", Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", MaxKeySize+1, MaxKeySize), Err: ErrKeyTooLarge}, err)
	_, err = tbl.Insert(rec{ID: 3})
	require.NoError(t, err, "a null")
	assert.Equal(t, 2, tbl.Len())
}

// TestKey_ZeroTime_PrimaryKey: the zero time.Time is a zero primary key in
// any location, as a zero int is: refused, nothing stored.
func TestKey_ZeroTime_PrimaryKey(t *testing.T) {
	type event struct {
		At   time.Time
		Name string
	}
	at := Field("at", func(e *event) time.Time { return e.At })
	events, err := NewTable(newTestDB(t), "Event", PrimaryKey(at), Fields(Field("name", func(e *event) string { return e.Name })))
	require.NoError(t, err)
	zeroKey := &KeyError{Table: "Event", Field: "at", Reason: "the primary key is zero", Err: ErrInvalidKey}
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("east", 5*3600), time.FixedZone("west", -7*3600), time.Local} {
		_, err := events.Insert(event{At: time.Time{}.In(loc), Name: loc.String()})
		require.Equal(t, zeroKey, err, loc.String())
		_, _, err = events.Upsert(event{At: time.Time{}.In(loc)})
		require.Equal(t, zeroKey, err, loc.String())
	}
	require.Zero(t, events.Len())
	_, err = events.Insert(event{At: time.Unix(1, 0).In(time.FixedZone("east", 5*3600))})
	require.NoError(t, err, "a non-zero instant in any location")
}

// TestKey_MaxKeySize_Cond: a condition may hold a value over MaxKeySize.
// No indexed record can have it, so it matches none; creating a record with
// it fails as Insert does.
func TestKey_MaxKeySize_Cond(t *testing.T) {
	_, users := newUsers(t)
	stored, err := users.Insert(User{Email: strings.Repeat("x", MaxKeySize), Org: "o", Username: "u"})
	require.NoError(t, err)
	before := dump(t, users)

	got, err := users.Get(uEmail.Eq(strings.Repeat("x", MaxKeySize)))
	require.NoError(t, err)
	assert.Equal(t, stored, got)

	big := strings.Repeat("x", MaxKeySize+1)
	for _, c := range []Cond[User]{
		uEmail.Eq(big),
		And(uOrg.Eq("o"), uEmail.Eq(big)),
		And(uOrg.Eq(big), uUsername.Eq("u")),
		uOrg.Eq(big),
	} {
		_, err = users.Get(c)
		requireNotFound(t, err, "User")
		_, err = users.Delete(c)
		requireNotFound(t, err, "User")
	}
	_, created, err := users.GetOrCreate(uEmail.Eq(big), func() (User, error) {
		return User{Email: big, Org: "o", Username: "new"}, nil
	})
	assert.False(t, created)
	require.ErrorIs(t, err, ErrKeyTooLarge)
	var ke *KeyError
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, "User", ke.Table)
	assert.Equal(t, "email", ke.Field)
	assert.Equal(t, before, dump(t, users))
}

// TestKey_MaxKeySize_UnindexedField: a value of an unindexed declared field
// over MaxKeySize must be either rejected when stored or usable in a
// condition; never stored and then unreachable.
func TestKey_MaxKeySize_UnindexedField(t *testing.T) {
	_, users := newUsers(t)
	long := strings.Repeat("n", MaxKeySize+1)
	stored, err := users.Insert(User{Email: "a@example.com", Name: long})
	if err != nil {
		require.ErrorIs(t, err, ErrKeyTooLarge)
		assert.Equal(t, 0, users.Len())
		return
	}
	got, err := users.Get(uName.Eq(long))
	require.NoError(t, err, "a stored record cannot be found by its unindexed field")
	assert.Equal(t, stored, got)
}

// steppedTime returns a time whose wall clock is d after t's and whose
// monotonic reading is d before it: what time.Now returns when the wall
// clock was stepped forward by 2d between two calls (NTP, a resumed VM).
func steppedTime(t time.Time, d time.Duration) time.Time {
	type timeLayout struct { // time.Time's fields
		wall uint64
		ext  int64
		loc  *time.Location
	}
	u := t.Add(d)
	(*timeLayout)(unsafe.Pointer(&u)).ext -= int64(2 * d)
	return u
}

// TestKey_Time_WallClockOrder: an index orders times by the wall clock, as
// their keys do, even when their monotonic readings disagree (found in
// review: the trees compared with time.Time.Compare, which uses them, and
// an equality then missed records).
func TestKey_Time_WallClockOrder(t *testing.T) {
	type event struct {
		ID int64
		At time.Time
	}
	at := Field("at", func(e *event) time.Time { return e.At })
	events, err := NewTable(newTestDB(t), "Event", PrimaryKey(Field("id", func(e *event) int64 { return e.ID })), Index("by_at", at))
	require.NoError(t, err)
	base := time.Now()
	first, second := base, steppedTime(base, time.Second)
	require.Equal(t, 1, first.Compare(second), "the monotonic readings say first comes later")
	require.Equal(t, -1, timeKey(first).compare(timeKey(second)), "the wall clock says it comes first")
	var ts []time.Time
	for i := range 200 {
		x := base.Add(time.Duration(i) * time.Millisecond)
		if i%2 == 1 {
			x = steppedTime(x, 50*time.Millisecond)
		}
		ts = append(ts, x)
		_, err := events.Insert(event{ID: int64(i + 1), At: x})
		require.NoError(t, err)
	}
	for i, x := range ts {
		n, err := events.Filter(at.Eq(x)).Count()
		require.NoError(t, err)
		require.Equal(t, 1, n, "event %d by its own time", i+1)
	}
}

// A field's piece writes, without building a key, exactly what
// appendKey writes for the key that extract builds: index comparisons
// (compareKey, edges) rely on the two agreeing, for every kind, sizes of
// integers, times in any zone, escape bytes in strings, and optional
// fields' nulls.
func TestKey_AppendTo_MatchesAppendKey(t *testing.T) {
	recs := []keyRec{{}}
	for i, tm := range keyTimes {
		s := keyStrings[i%len(keyStrings)]
		recs = append(recs, keyRec{
			I8: math.MinInt8 + int8(i), I16: math.MaxInt16 - int16(i), I32: int32(i) - 3, I64: math.MinInt64 + int64(i), I: -i,
			U8: math.MaxUint8 - uint8(i), U16: uint16(i), U32: math.MaxUint32, U64: math.MaxUint64 - uint64(i), U: uint(i), UP: uintptr(i),
			F32: float32(i) - 6.5, F64: []float64{math.Inf(-1), -0.0, math.Copysign(0, -1), 1e-300, math.MaxFloat64}[i%5],
			B: i%2 == 0, T: tm, S: s, L: keyLabel(s + "\xff"),
		})
	}
	cols := []*col[keyRec]{kI8.meta(), kI16.meta(), kI32.meta(), kI64.meta(), kI.meta(), kU8.meta(), kU16.meta(), kU32.meta(),
		kU64.meta(), kU.meta(), kUP.meta(), kF32.meta(), kF64.meta(), kB.meta(), kT.meta(), kS.meta(), kL.meta()}
	for _, c := range cols {
		for _, r := range recs {
			k, err := c.extract(&r)
			require.NoError(t, err)
			p := c.piece(&r)
			assert.Equal(t, c.appendKey(nil, k), p.encoded(), "field %s of %+v", c.name, r)
		}
	}
	for _, r := range slices.Concat(fltItemFixture(), []fltItem{{Nick: fltPtr("a\x00\xff"), Score: fltPtr(math.Copysign(0, -1)), Tag: fltPtr("")}}) {
		for _, c := range []*col[fltItem]{fltNick.meta(), fltScore.meta(), fltTag.meta(), fltAt.meta()} {
			k, err := c.extract(&r)
			require.NoError(t, err)
			p := c.piece(&r)
			assert.Equal(t, c.appendKey(nil, k), p.encoded(), "field %s of %+v", c.name, r)
		}
	}
	// Comparing a record with a key held as bytes builds nothing.
	_, items, _ := fltItems(t)
	s := versionOf(items)
	for i, d := range s.sch.indexes {
		if d.name != "item_at" && d.name != "item_score" && d.name != "item_group_rank" {
			continue
		}
		var r *fltItem
		s.trees[i].Scan(func(x *fltItem) bool { r = x; return false })
		k, err := d.keyOf(r)
		require.NoError(t, err)
		assert.Zero(t, testing.AllocsPerRun(50, func() { _ = d.compareKey(k, r) }), "allocations comparing with %s", d.name)
	}
}

// TestPiece_Compare_MatchesEncoding checks piece.compare, which compares in
// place, against bytes.Compare over the encoding appendTo builds: for every
// string of keyStrings as a piece and every encoded string as t, with the
// fixed bytes of an optional field ahead of both, the result over the
// bytes both hold and the length covered.
func TestPiece_Compare_MatchesEncoding(t *testing.T) {
	var ts [][]byte
	for _, s := range keyStrings {
		enc := (&piece{str: true, s: s}).encoded()
		for n := 0; n <= len(enc); n++ {
			ts = append(ts, enc[:n], append([]byte{1}, enc[:n]...))
		}
	}
	for _, s := range keyStrings {
		for _, fixed := range [][]byte{nil, {1}} {
			p := piece{str: true, s: s, n: uint8(len(fixed))}
			copy(p.b[:], fixed)
			enc := p.encoded()
			for _, tb := range ts {
				m := min(len(tb), len(enc))
				wantN := len(enc)
				if len(tb) < len(enc) {
					wantN = len(tb) + 1
				}
				c, n := p.compare(tb)
				want := bytes.Compare(tb[:m], enc[:m])
				require.Equal(t, want, c, "piece %q (fixed %v) against %q", s, fixed, tb)
				if want == 0 {
					require.Equal(t, wantN, n, "length of piece %q (fixed %v) against %q", s, fixed, tb)
				}
			}
		}
	}
}

// encoded is p's encoding, built: the reference that piece.compare, which
// compares in place, must agree with.
func (p *piece) encoded() []byte {
	buf := append([]byte(nil), p.b[:p.n]...)
	if p.str {
		buf = append(appendEscaped(buf, p.s), 0, 1)
	}
	return buf
}
