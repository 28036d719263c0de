//go:build purego || !(amd64 || arm64)

package asm

import "fmt"

// generatedNM: the N:M drivers of generated kernels are built with the assembly only.
func generatedNM(d *Desc, f GeneratedFuncs) (Family, error) {
	return Family{}, fmt.Errorf("generated N:M kernels run only in builds with assembly (not purego, amd64 or arm64)")
}

// generatedBSR: likewise the BSR driver of generated kernels.
func generatedBSR(d *Desc, f GeneratedFuncs) (Family, error) {
	return Family{}, fmt.Errorf("generated BSR kernels run only in builds with assembly (not purego, amd64 or arm64)")
}
