package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func init() {
	commands["gen"] = command{"regenerate the assembly kernels (what go generate ./... runs)", runGen}
}

// runGen runs the generator module (gen/, which holds Avo and stays out of the library's
// dependencies) from the sparsegen source tree.
func runGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen", "gen [-src DIR] [-out DIR] [-isa LIST] [-families LIST] [-list]", stderr)
	src := fs.String("src", "", "the sparsegen source tree (default: found from the working directory upwards)")
	out := fs.String("out", "", "where to write the kernels (default: SRC/asm)")
	isa := fs.String("isa", "", "comma-separated ISAs to generate: avx512, avx2, neon (default: all)")
	families := fs.String("families", "", "comma-separated kernel families / tile sets to generate, by file name\n(e.g. csr,gemm; default: all; -list shows them)")
	list := fs.Bool("list", false, "list the families the generator knows and exit")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	root := *src
	if root == "" {
		var err error
		if root, err = findSourceRoot(); err != nil {
			return err
		}
	}
	genDir := filepath.Join(root, "gen")
	if _, err := os.Stat(filepath.Join(genDir, "go.mod")); err != nil {
		return fmt.Errorf("%s has no generator module (gen/go.mod): run inside a sparsegen checkout or pass -src", root)
	}
	dst := *out
	if dst == "" {
		dst = filepath.Join(root, "asm")
	}
	dst, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	gargs := []string{"run", "./cmd/asmgen", "-out", dst}
	if *isa != "" {
		for _, i := range strings.Split(*isa, ",") {
			if i = strings.TrimSpace(i); i != "avx512" && i != "avx2" && i != "neon" {
				return usageErr(fs, "-isa: %q is not an ISA the generator lowers to (avx512, avx2, neon)", i)
			}
		}
		gargs = append(gargs, "-isa", *isa)
	}
	if *families != "" {
		gargs = append(gargs, "-families", *families)
	}
	if *list {
		gargs = append(gargs, "-list")
	}
	cmd := exec.Command("go", gargs...)
	cmd.Dir = genDir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("generator failed: %w", err)
	}
	if !*list {
		fmt.Fprintf(stdout, "kernels written to %s\n", dst)
	}
	return nil
}

// findSourceRoot walks up from the working directory to the sparsegen module root.
func findSourceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/sparsegen/sparsegen\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside a sparsegen source tree: pass -src")
		}
		dir = parent
	}
}
