package dispatch

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"math"
	"os"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sparsegen/sparsegen/asm"
)

var (
	updatePolicy   = flag.Bool("update", false, "TestPolicyTable: time every kernel family here and rewrite policy_table.go")
	updateFamilies = flag.String("update-families", "", "TestPolicyTable: time only the families whose names match this regexp and replace their entries in policy_table.go")
	validatePolicy = flag.Bool("validate", false, "TestPolicyValidation: time every candidate on the held-out set and report the policy's choices")
)

// TestPolicyTable checks the checked-in table; with -update it times every family this
// CPU runs on the training set (one thread, bare kernel calls) and rewrites
// policy_table.go. With -update-families REGEXP it times only the families whose names
// match (a new family, or one whose kernels changed) on the same full set, replaces their
// entries and keeps the others; the header keeps where the others were measured and adds
// which families were re-timed, when and where. Run it alone on a quiet machine:
//
//	flock /tmp/sparsegen-cpu.lock go test -run TestPolicyTable -update ./dispatch
//	flock /tmp/sparsegen-cpu.lock go test -run TestPolicyTable -update-families '^gemv_' ./dispatch
func TestPolicyTable(t *testing.T) {
	if *updatePolicy && *updateFamilies != "" {
		t.Fatal("-update and -update-families: choose one")
	}
	if *updateFamilies != "" {
		updateTableFamilies(t, *updateFamilies)
		return
	}
	if !*updatePolicy {
		for _, e := range policyTable {
			if _, err := parseTarget(e.Target); err != nil || !(e.PerMAC > 0) || e.PerOut < 0 || e.PerIn < 0 || !slices.Contains(policyPoints, e.N) {
				t.Errorf("bad table entry %+v", e)
			}
			if _, ok := asm.Lookup(e.Family); !ok {
				t.Logf("table entry for %s: family no longer registered (entry unused)", e.Family)
			}
		}
		return
	}
	cal, err := Calibrate(CalibrateOptions{Full: true, Budget: time.Hour, Progress: func(done, total int, name string, el time.Duration) {
		t.Logf("timed %s (%d/%d, %v)", name, done, total, el.Round(time.Second))
	}})
	if err != nil {
		t.Fatal(err)
	}
	entries := cal.entries
	h := Host()
	header := []string{
		fmt.Sprintf("The default policy's cost coefficients (see policy.go), measured on %s %q with", h.GOARCH, h.Model),
		fmt.Sprintf("features %v, %s, one thread, bare kernel calls, on the training set of", h.Features, runtime.Version()),
		fmt.Sprintf("policy_gen_test.go. Kernel families then registered: %s.", familyNames()),
	}
	src := renderTable(header, entries)
	if err := os.WriteFile("policy_table.go", src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote policy_table.go with %d entries", len(entries))
}

// updateTableFamilies is TestPolicyTable -update-families expr.
func updateTableFamilies(t *testing.T, expr string) {
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile("policy_table.go")
	if err != nil {
		t.Fatal(err)
	}
	header, err := tableHeader(old)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := Calibrate(CalibrateOptions{Full: true, Budget: time.Hour, Families: re, Progress: func(done, total int, name string, el time.Duration) {
		t.Logf("timed %s (%d/%d, %v)", name, done, total, el.Round(time.Second))
	}})
	if err != nil {
		t.Fatal(err)
	}
	var timed []string
	for _, f := range runnableFamilies() {
		if re.MatchString(f.Name) {
			timed = append(timed, f.Name)
		}
	}
	entries := mergeEntries(policyTable, cal.entries, re)
	h := Host()
	header = append(header, fmt.Sprintf("Re-timed %s by TestPolicyTable -update-families %q on %s %q with features %v, %s, on the same training set (their entries replaced, the others kept): %s.",
		time.Now().UTC().Format("2006-01-02"), expr, h.GOARCH, h.Model, h.Features, runtime.Version(), strings.Join(timed, ", ")))
	if err := os.WriteFile("policy_table.go", renderTable(header, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote policy_table.go: %d entries of %s replaced by %d", len(policyTable)-(len(entries)-len(cal.entries)), strings.Join(timed, ", "), len(cal.entries))
}

// mergeEntries returns table without the entries of families matching re, plus measured,
// in the table's order.
func mergeEntries(table, measured []policyEntry, re *regexp.Regexp) []policyEntry {
	out := slices.DeleteFunc(slices.Clone(table), func(e policyEntry) bool { return re.MatchString(e.Family) })
	out = append(out, measured...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].key().less(out[j].key()) })
	return out
}

// tableHeader returns the paragraphs of a rendered table's header that say where its
// coefficients come from (each paragraph one line: renderTable wraps them again).
func tableHeader(src []byte) ([]string, error) {
	_, rest, ok := strings.Cut(string(src), "\npackage dispatch\n\n")
	if !ok {
		return nil, errors.New("policy_table.go: no package clause")
	}
	var paras []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paras = append(paras, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, line := range strings.Split(rest, "\n") {
		text, ok := strings.CutPrefix(line, "//")
		if !ok || strings.HasPrefix(text, " Thresholds that follow") {
			break
		}
		if text = strings.TrimSpace(text); text == "" {
			flush()
		} else {
			cur = append(cur, text)
		}
	}
	flush()
	if len(paras) == 0 {
		return nil, errors.New("policy_table.go: no header")
	}
	return paras, nil
}

// renderTable writes policy_table.go: header (paragraphs, wrapped), the thresholds and
// the entries.
func renderTable(header []string, entries []policyEntry) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "// Code generated by TestPolicyTable -update; DO NOT EDIT.\n\n")
	fmt.Fprintf(&buf, "package dispatch\n\n")
	for _, p := range header {
		for _, line := range wrapComment(p, 100) {
			fmt.Fprintf(&buf, "// %s\n", line)
		}
		fmt.Fprintf(&buf, "//\n")
	}
	fmt.Fprintf(&buf, "// Thresholds that follow (PerOut and PerIn ignored), per ISA and policy point N: dense wins over CSR above\n")
	fmt.Fprintf(&buf, "// density D; BSR R×C wins over CSR when its fill (nnz/slots) exceeds F; N:M wins over CSR\n")
	fmt.Fprintf(&buf, "// when nnz/slots exceeds F (a conforming matrix with every slot used has 1).\n//\n")
	for _, line := range thresholds(entries) {
		fmt.Fprintf(&buf, "//\t%s\n", line)
	}
	fmt.Fprintf(&buf, "var policyTable = []policyEntry{\n")
	for _, e := range entries {
		large := ""
		if e.Large {
			large = ", Large: true"
		}
		fmt.Fprintf(&buf, "\t{Family: %q, Target: %q, N: %d, PerMAC: %.4g, PerOut: %.4g, PerIn: %.4g%s},\n", e.Family, e.Target, e.N, e.PerMAC, e.PerOut, e.PerIn, large)
	}
	fmt.Fprintf(&buf, "}\n")
	src, err := format.Source(buf.Bytes())
	if err != nil {
		panic(err)
	}
	return src
}

// thresholds derives the documented thresholds from table entries: per ISA (families of
// that ISA or narrower) and bucket, the best coefficient per target.
func thresholds(entries []policyEntry) []string {
	var lines []string
	for _, isa := range []asm.ISA{asm.Generic, asm.AVX2, asm.AVX512, asm.NEON} {
		for _, pn := range policyPoints {
			best := map[string]float64{}
			for _, e := range entries {
				f, ok := asm.Lookup(e.Family)
				if !ok || e.N != pn || e.Large || isaRank(f.ISA, Host().GOARCH) < 0 || isaRank(f.ISA, Host().GOARCH) > isaRank(isa, Host().GOARCH) {
					continue
				}
				if v, ok := best[e.Target]; !ok || e.PerMAC < v {
					best[e.Target] = e.PerMAC
				}
			}
			csr, ok := best["csr"]
			if !ok || (isa != asm.Generic && isaRank(isa, Host().GOARCH) < 0) {
				continue
			}
			line := fmt.Sprintf("%-7s N = %-4d", isa, pn)
			if d, ok := best["dense"]; ok {
				line += fmt.Sprintf(" dense D = %.0f%%;", 100*min(d/csr, 9.99))
			}
			var ts []string
			for tg := range best {
				if tg != "csr" && tg != "dense" {
					ts = append(ts, tg)
				}
			}
			sort.Strings(ts)
			for _, tg := range ts {
				line += fmt.Sprintf(" %s F = %.2f;", tg, best[tg]/csr)
			}
			lines = append(lines, strings.TrimSuffix(line, ";"))
		}
	}
	return lines
}

// TestPolicyValidation times every candidate on shapes and sparsities not in the training
// set and compares the choices of the shipped table (and of this machine's calibration,
// if there is one) with the fastest (goal: within 20%). Without -validate it runs one
// small case to keep the harness working; timings are reported, never asserted.
func TestPolicyValidation(t *testing.T) {
	settings := []string{"off"}
	if src := PolicySource(""); src != shippedPolicy.source {
		settings = append(settings, "")
	}
	v, err := ValidatePolicies(settings, ValidateOptions{Small: !*validatePolicy, Large: *validatePolicy,
		Progress: func(done, total int, name string, el time.Duration) {
			t.Logf("validated %s (%d/%d, %v)", name, done, total, el.Round(time.Second))
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("no validation cases")
	}
	for _, c := range v.Cases {
		line := fmt.Sprintf("%-26s N=%-3d best %-32s %9s", c.Matrix, c.N, c.Best, fmtNs(c.BestNs))
		for i := range v.Policies {
			line += fmt.Sprintf(" | chosen %-32s ratio %.2f", c.Chosen[i], c.Ratio[i])
		}
		t.Log(line)
	}
	for i, src := range v.Policies {
		within, worst := v.Within(i, 1.2)
		t.Logf("policy validation (%s): %d/%d cases within 20%% of the best; worst ratio %.2f", src, within, len(v.Cases), worst)
	}
}

// TestFitCoef: samples drawn from known coefficients are fitted back; a negative term is
// dropped rather than fitted below zero.
func TestFitCoef(t *testing.T) {
	var ss []sample
	for _, sh := range [][3]int{{100, 200, 3000}, {400, 50, 9000}, {64, 1000, 5000}, {300, 300, 40000}, {50, 80, 700}} {
		for _, ne := range []int{16, 32} {
			ns := (0.05*float64(sh[2]) + 2*float64(sh[0]) + 0.5*float64(sh[1])) * float64(ne)
			ss = append(ss, sample{stored: int64(sh[2]), m: sh[0], k: sh[1], ne: ne, ns: ns})
		}
	}
	a, b, c := fitCoef(ss)
	if math.Abs(a-0.05) > 1e-6 || math.Abs(b-2) > 1e-4 || math.Abs(c-0.5) > 1e-4 {
		t.Fatalf("fit (%g, %g, %g), want (0.05, 2, 0.5)", a, b, c)
	}
	for i := range ss { // a term that would need a negative coefficient
		ss[i].ns = (0.05*float64(ss[i].stored) - 0.3*float64(ss[i].k) + 100) * float64(ss[i].ne)
	}
	a, b, c = fitCoef(ss)
	if !(a > 0) || b < 0 || c < 0 {
		t.Fatalf("fit (%g, %g, %g) has a negative or zero term", a, b, c)
	}
}

// wrapComment splits text into lines of at most width bytes at spaces (a longer word
// stays whole on its line).
func wrapComment(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
