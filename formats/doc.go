// Package formats holds sparsegen's canonical weight formats: Dense, CSR, BSR (R×C blocks)
// and N:M structured sparsity along K, with validation, conversion and measurement.
//
// Every format is canonical and unpacked, and immutable after construction: the
// constructors call Validate, which proves every invariant the kernels rely on, so no
// assembly ever sees an unchecked index (DESIGN §4, §6). Invalid input yields an
// *InvalidError naming the format, the place (row, block or index) and the broken rule.
// Nothing in this package panics on bad input.
package formats
