package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sparsegen/sparsegen/formats/fileio"
)

func init() {
	commands["gen"] = command{"regenerate the assembly kernels (what go generate ./... runs)", runGen}
}

// runGen runs the generator (gen/cmd/asmgen, in the generator module, which holds Avo and
// stays out of the library's dependencies): into sparsegen's own asm/ from a source tree,
// or, with -pkg, into a package of the user's own module (DESIGN §5.11).
func runGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen", "gen [-src DIR] [-out DIR] [-pkg NAME [-prefix NS] [-bake FILE[:TENSOR],… [-bake-tile T,…] [-bake-budget BYTES]]] [-isa LIST] [-families LIST] [-list]", stderr)
	src := fs.String("src", "", "the sparsegen source tree (default: found from the working directory upwards)")
	out := fs.String("out", "", "where to write the kernels (default: SRC/asm; with -pkg: the working directory)")
	pkg := fs.String("pkg", "", "generate a package of this name for your own module (into -out) instead of sparsegen's asm")
	prefix := fs.String("prefix", "", "with -pkg: the namespace of the kernel names (default: the package name)")
	isa := fs.String("isa", "", "comma-separated ISAs to generate: avx512, avx2, neon (default: all)")
	families := fs.String("families", "", "comma-separated kernel families / tile sets to generate, by file name\n(e.g. csr,gemm; default: all; -list shows them); with -pkg: nm:<keep>:<group> and csr[:<tile>…]")
	list := fs.Bool("list", false, "list the families the generator knows and exit")
	bake := fs.String("bake", "", "with -pkg: comma-separated weights FILE[:TENSOR] to bake a CSR kernel for each (its column offsets in the code)")
	bakeTile := fs.String("bake-tile", "", "with -bake: comma-separated tile widths in floats (default 16,64)")
	bakeBudget := fs.Int64("bake-budget", 0, "with -bake: the most code bytes per baked kernel and ISA (default 512 KiB, the same on every machine)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *isa != "" {
		for _, i := range strings.Split(*isa, ",") {
			if i = strings.TrimSpace(i); i != "avx512" && i != "avx2" && i != "neon" {
				return usageErr(fs, "-isa: %q is not an ISA the generator lowers to (avx512, avx2, neon)", i)
			}
		}
	}
	if *prefix != "" && *pkg == "" {
		return usageErr(fs, "-prefix needs -pkg")
	}
	if (*bake != "" || *bakeTile != "" || *bakeBudget != 0) && *pkg == "" {
		return usageErr(fs, "-bake needs -pkg (baked kernels go into a package of your own)")
	}
	root := *src
	if root == "" && *pkg == "" {
		var err error
		if root, err = findSourceRoot(); err != nil {
			return fmt.Errorf("not inside a sparsegen source tree: pass -src DIR, or -pkg NAME to generate kernels into a package of your own module")
		}
	}
	dst := *out
	if dst == "" {
		if *pkg != "" {
			dst = "."
		} else {
			dst = filepath.Join(root, "asm")
		}
	}
	dst, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	if !*list {
		if st, err := os.Stat(dst); err != nil || !st.IsDir() {
			return fmt.Errorf("-out %s: no such folder (create it first)", dst)
		}
		if *pkg == "" && root != "" && dst != filepath.Join(root, "asm") {
			return usageErr(fs, "-out %s is not sparsegen's asm folder: pass -pkg NAME to generate a package of your own", dst)
		}
	}
	gargs := []string{"-out", dst}
	if *pkg != "" {
		gargs = append(gargs, "-pkg", *pkg)
	}
	if *prefix != "" {
		gargs = append(gargs, "-prefix", *prefix)
	}
	if *isa != "" {
		gargs = append(gargs, "-isa", *isa)
	}
	if *families != "" {
		gargs = append(gargs, "-families", *families)
	}
	if *list {
		gargs = append(gargs, "-list")
	}
	if *bake != "" {
		// The generator may run in another folder (the checkout's gen module): weights by
		// absolute path.
		var abs []string
		for _, a := range strings.Split(*bake, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			path, tensor := fileio.SplitTensorArg(a)
			p, err := filepath.Abs(path)
			if err != nil {
				return err
			}
			if tensor != "" {
				p += ":" + tensor
			}
			abs = append(abs, p)
		}
		gargs = append(gargs, "-bake", strings.Join(abs, ","))
	}
	if *bakeTile != "" {
		gargs = append(gargs, "-bake-tile", *bakeTile)
	}
	if *bakeBudget != 0 {
		gargs = append(gargs, "-bake-budget", fmt.Sprint(*bakeBudget))
	}
	var cmd *exec.Cmd
	if root != "" {
		genDir := filepath.Join(root, "gen")
		if _, err := os.Stat(filepath.Join(genDir, "go.mod")); err != nil {
			return fmt.Errorf("%s has no generator module (gen/go.mod): run inside a sparsegen checkout or pass -src", root)
		}
		cmd = exec.Command("go", append([]string{"run", "./cmd/asmgen"}, gargs...)...)
		cmd.Dir = genDir
	} else {
		// Outside a checkout: the generator as the user's module requires it (go get -tool
		// github.com/sparsegen/sparsegen/gen/cmd/asmgen), run from the -out folder's module.
		cmd = exec.Command("go", append([]string{"run", "github.com/sparsegen/sparsegen/gen/cmd/asmgen"}, gargs...)...)
		cmd.Dir = dst
	}
	var errBuf strings.Builder
	cmd.Stdout, cmd.Stderr = stdout, &errBuf
	if err := cmd.Run(); err != nil {
		// The generator's own message is one line ("asmgen: …"): report just that; anything
		// else (go run failing to build or find it) in full.
		for _, l := range strings.Split(errBuf.String(), "\n") {
			if m, ok := strings.CutPrefix(l, "asmgen: "); ok {
				return fmt.Errorf("%s", m)
			}
		}
		fmt.Fprint(stderr, errBuf.String())
		return fmt.Errorf("generator failed: %w", err)
	}
	fmt.Fprint(stderr, errBuf.String())
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
