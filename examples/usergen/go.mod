module example.com/usergen

go 1.26.0

require github.com/sparsegen/sparsegen v0.0.0-00010101000000-000000000000

require (
	github.com/mmcloughlin/avo v0.6.0 // indirect
	github.com/sparsegen/sparsegen/gen v0.0.0 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
)

tool github.com/sparsegen/sparsegen/gen/cmd/asmgen

replace (
	github.com/sparsegen/sparsegen => ../..
	github.com/sparsegen/sparsegen/gen => ../../gen
)
