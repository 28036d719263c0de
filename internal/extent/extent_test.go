package extent

import (
	"math"
	"testing"
)

func TestSpan(t *testing.T) {
	for _, c := range []struct {
		rows, cols, ld, want int64
		ok                   bool
	}{
		{0, 5, 0, 0, true},
		{5, 0, 0, 0, true},
		{1, 5, 0, 5, true}, // one row: the stride is not used
		{3, 2, 4, 10, true},
		{2, 2, math.MaxInt64, 0, false},  // (2−1)·MaxInt + 2 wraps
		{3, 1, 1<<62 + 1<<20, 0, false},  // 2·(2⁶²+2²⁰) wraps negative
		{2, 1, MaxInt - 1, MaxInt, true}, // exactly MaxInt
		{2, 2, MaxInt - 1, 0, false},
		{-1, 1, 1, 0, false},
		{1, -1, 1, 0, false},
		{2, 3, 2, 0, false}, // ld < cols
	} {
		got, ok := Span(c.rows, c.cols, c.ld)
		if got != c.want || ok != c.ok {
			t.Errorf("Span(%d, %d, %d) = %d, %v; want %d, %v", c.rows, c.cols, c.ld, got, ok, c.want, c.ok)
		}
	}
}

func TestItems(t *testing.T) {
	for _, c := range []struct {
		one, stride, batch, want int64
		ok                       bool
	}{
		{4, 4, 3, 12, true},
		{4, 0, 3, 4, true},
		{0, 9, 3, 0, true},
		{4, 9, 0, 0, true},
		{4, math.MaxInt64, 2, 0, false},
		{1, 1 << 62, 3, 0, false},
		{-1, 1, 1, 0, false},
	} {
		got, ok := Items(c.one, c.stride, c.batch)
		if got != c.want || ok != c.ok {
			t.Errorf("Items(%d, %d, %d) = %d, %v; want %d, %v", c.one, c.stride, c.batch, got, ok, c.want, c.ok)
		}
	}
}

func TestMulAdd(t *testing.T) {
	if _, ok := Mul(1<<32, 1<<31); ok {
		t.Error("Mul(2³², 2³¹) = 2⁶³ > MaxInt passed")
	}
	if p, ok := Mul(1<<31, 1<<31); !ok || p != 1<<62 {
		t.Errorf("Mul(2³¹, 2³¹) = %d, %v", p, ok)
	}
	if _, ok := Add(math.MaxInt64, 1); ok {
		t.Error("Add(MaxInt, 1) passed")
	}
	if MulSat(math.MaxInt64, 2) != MaxInt {
		t.Error("MulSat does not saturate")
	}
	if !Fits(4, 2, 2, 2) || Fits(3, 2, 2, 2) || Fits(4, 2, 2, math.MaxInt) {
		t.Error("Fits")
	}
	if Need(0, false) == "0" || Need(7, true) != "7" {
		t.Error("Need")
	}
}
