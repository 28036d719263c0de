package main

import (
	"fmt"
	"go/format"

	"github.com/sparsegen/sparsegen/gen/kernels"
	"github.com/sparsegen/sparsegen/gen/neon"
)

// neonFeatures is the asm.Feature expression of every NEON kernel: ASIMD (with its
// floating point) is all the lowering uses.
const neonFeatures = "FeatASIMD"

// generateNEON lowers one family through the arm64 backend (gen/neon) and returns
// asm/<file>_neon_arm64.{s,go}. A family without NEON variants (no functions) writes none.
func generateNEON(fam kernels.Family) (out []File, err error) {
	return generateNEONFor(fam, pkgOut{})
}

func generateNEONFor(fam kernels.Family, o pkgOut) (out []File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s/neon: %v", fam.File, r)
		}
	}()
	m := neon.NewMachine()
	fam.Gen(m)
	fs, err := m.Funcs()
	if err != nil {
		return nil, fmt.Errorf("%s/neon: %w", fam.File, err)
	}
	if len(fs) == 0 {
		return nil, nil
	}
	asmText, err := m.Asm(Generator)
	if err != nil {
		return nil, fmt.Errorf("%s/neon: %w", fam.File, err)
	}
	asmText = withHeader(asmText, kernels.AsmHeader(fam, m.ISA()))
	feats := o.features(neonFeatures)
	goText, err := format.Source(o.stubs(m.Stubs(Generator, fam.Table(m.ISA(), feats)+"\n"+o.manifest(fam, m.ISA(), feats))))
	if err != nil {
		return nil, fmt.Errorf("%s/neon: gofmt: %w", fam.File, err)
	}
	base := fam.File + "_neon_arm64"
	return []File{{base + ".s", asmText}, {base + ".go", goText}}, nil
}
