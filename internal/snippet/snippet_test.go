package snippet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ex.go", "package x_test\n\nimport \"fmt\"\n\nfunc Example() {\n\tfmt.Println(1)\n\n\t// Output: 1\n}\n")
	write(t, dir, "ex.py", "print(1)\n")
	good := "# T\n\n<!-- snippet: ex.go from \"import\" -->\n\n```go\nimport \"fmt\"\nfunc Example() {\n    fmt.Println(1)\n    // Output: 1\n}\n```\n\n" +
		"<!-- snippet: ex.py -->\n````python\nprint(1)\n````\n"
	cases := []struct {
		name, readme string
		want         []string
		err          string // "" for no error
	}{
		{"equal up to white space", good, []string{"ex.go", "ex.py"}, ""},
		{"drift", strings.Replace(good, "Println(1)", "Println(2)", 1), nil, `code line 3: block "fmt.Println(2)", file "fmt.Println(1)"`},
		{"block shorter", strings.Replace(good, "    // Output: 1\n", "", 1), nil, `code line 4: block "}", file "// Output: 1"`},
		{"block longer", strings.Replace(good, "print(1)\n````", "print(1)\nprint(2)\n````", 1), nil, `after the file ends`},
		{"unmarked", "```go\nimport \"fmt\"\n```\n", []string{"ex.go"}, "shows no block of ex.go"},
		{"marker without block", "<!-- snippet: ex.py -->\ntext\n", nil, "not followed by a fenced code block"},
		{"unclosed block", "<!-- snippet: ex.py -->\n```python\nprint(1)\n", nil, "not closed"},
		{"missing file", "<!-- snippet: gone.py -->\n```\nx\n```\n", nil, "gone.py"},
		{"from not found", "<!-- snippet: ex.go from \"func Other\" -->\n```\nx\n```\n", nil, `no line holding "func Other"`},
	}
	for _, c := range cases {
		err := Check(write(t, dir, "README.md", c.readme), c.want...)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.err)
		}
	}
}

func TestBlocksLine(t *testing.T) {
	b, err := Blocks("a\n<!-- snippet: f -->\n```\nline 4\n```\n")
	if err != nil || len(b) != 1 || b[0].Line != 4 || b[0].Code != "line 4" || b[0].Path != "f" {
		t.Fatalf("Blocks = %+v, %v", b, err)
	}
}
