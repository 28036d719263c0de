module github.com/sparsegen/sparsegen/gen

go 1.26.0

require (
	github.com/mmcloughlin/avo v0.6.0
	golang.org/x/arch v0.33.0
)

require (
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
)

require github.com/sparsegen/sparsegen v0.0.0-00010101000000-000000000000

// The generator reads weights (-bake) with sparsegen's own file readers: this checkout's.
replace github.com/sparsegen/sparsegen => ../
