package main

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// TestPythonMirrorsHeader checks that the Python package (python/src/sparsegen/__init__.py)
// declares the header's status codes, activations and sg_options layout (ctypes cannot read
// a header). The Go codes are checked against the header at compile time (exports.go).
func TestPythonMirrorsHeader(t *testing.T) {
	h := readText(t, "sparsegen.h")
	py := readText(t, "python/src/sparsegen/__init__.py")

	enum := func(prefix string) map[string]int {
		out := map[string]int{}
		for _, m := range regexp.MustCompile(`\b(`+prefix+`\w*) = (\d+)`).FindAllStringSubmatch(h, -1) {
			out[m[1]], _ = strconv.Atoi(m[2])
		}
		return out
	}
	status := enum("SG_OK|SG_ERR_")
	if len(status) != int(codeInternal)+1 {
		t.Fatalf("header has %d status codes, Go %d", len(status), codeInternal+1)
	}
	for name, v := range status {
		if !strings.Contains(py, strconv.Itoa(v)+`: "`+name+`"`) {
			t.Errorf("python STATUS lacks %d: %q", v, name)
		}
	}
	acts := enum("SG_ACT_")
	if len(acts) != int(ref.ActSiLU)+1 {
		t.Errorf("header has %d activations, ref %d", len(acts), ref.ActSiLU+1)
	}
	for name, v := range acts {
		low := strings.ToLower(strings.TrimPrefix(name, "SG_ACT_"))
		if ref.Activation(v).String() != low {
			t.Errorf("header %s = %d, ref calls %d %q", name, v, v, ref.Activation(v))
		}
		if !strings.Contains(py, `"`+low+`": `+strconv.Itoa(v)) {
			t.Errorf("python ACTIVATIONS lacks %q: %d", low, v)
		}
	}

	dts := enum("SG_DTYPE_")
	if len(dts) != int(formats.I8) {
		t.Errorf("header has %d dtypes, formats %d", len(dts), formats.I8)
	}
	for name, v := range dts {
		low := strings.ToLower(strings.TrimPrefix(name, "SG_DTYPE_"))
		if formats.DType(v).String() != low {
			t.Errorf("header %s = %d, formats calls %d %q", name, v, v, formats.DType(v))
		}
		if !strings.Contains(py, `"`+low+`": `+strconv.Itoa(v)) {
			t.Errorf("python DTYPES lacks %q: %d", low, v)
		}
	}

	// The thread limit.
	if m := regexp.MustCompile(`#define SG_MAX_THREADS (\d+)`).FindStringSubmatch(h); m == nil || m[1] != strconv.Itoa(dispatch.MaxThreads) {
		t.Errorf("header SG_MAX_THREADS %v, dispatch.MaxThreads %d", m, dispatch.MaxThreads)
	} else if !strings.Contains(py, "MAX_THREADS = "+m[1]) {
		t.Errorf("python MAX_THREADS is not %s", m[1])
	}

	// sg_options fields, in order.
	body := h[strings.Index(h, "typedef struct sg_options {"):]
	body = body[:strings.Index(body, "} sg_options;")]
	var hf []string
	for _, m := range regexp.MustCompile(`(?m)^\s+[a-z_0-9 ]+?\*?\s*\**(\w+)(?:, (\w+))?;`).FindAllStringSubmatch(body, -1) {
		hf = append(hf, m[1])
		if m[2] != "" {
			hf = append(hf, m[2])
		}
	}
	var pf []string
	for _, m := range regexp.MustCompile(`\("(\w+)", ctypes\.`).FindAllStringSubmatch(py, -1) {
		pf = append(pf, m[1])
	}
	if len(hf) == 0 || !slices.Equal(hf, pf) {
		t.Errorf("sg_options fields: header %v, python %v", hf, pf)
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
