// Package mykern holds sparsegen kernels generated for this module: 3:8 and 2:6 N:M
// kernels, CSR tiles and a BSR kernel for 3×4 blocks on AVX-512, AVX2 and NEON. Importing
// it registers them with sparsegen's dispatch; `go generate` (re)writes every other file
// of the package.
package mykern

//go:generate go run github.com/sparsegen/sparsegen/gen/cmd/asmgen -pkg mykern -isa avx512,avx2,neon -families nm:3:8,nm:2:6,csr,bsr:3x4 -out .
