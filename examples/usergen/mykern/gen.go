// Package mykern holds sparsegen kernels generated for this module: 3:8 and 2:6 N:M
// kernels, CSR tiles and a BSR kernel for 3×4 blocks on AVX-512, AVX2 and NEON, and a CSR
// kernel baked for the pattern of the layer in testdata/fc.npz (its column offsets in the
// code). Importing it registers them with sparsegen's dispatch; `go generate` (re)writes
// every other file of the package, and the weights first (../mkweights stands in for a
// real checkpoint).
package mykern

//go:generate go run ../mkweights -out testdata -sparsity 0.9 fc:256x64
//go:generate go run github.com/sparsegen/sparsegen/gen/cmd/asmgen -pkg mykern -isa avx512,avx2,neon -families nm:3:8,nm:2:6,csr,bsr:3x4 -bake testdata/fc.npz -bake-tile 16,32,64 -out .
