package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"heartline/agent/shared/wiring"
)

// Flag is one entry of a binary's -h output.
type Flag struct {
	Name    string
	Type    string // "" for booleans
	Default string
	Usage   string
}

// Binary is a process whose flags are documented.
type Binary struct {
	Name string // table marker and binary name
	Pkg  string // go build path
	Env  bool   // flags have HEARTLINE_* equivalents
	// MachineDefaults replaces defaults that depend on the host (hostname, core count).
	MachineDefaults map[string]string
	Doc             string // file holding the table, relative to the repository root
}

// Binaries are the processes an operator runs.
var Binaries = []Binary{
	{Name: "gateway", Pkg: "./gateway", Env: true, Doc: "gateway/OPERATIONS.md",
		MachineDefaults: map[string]string{"gateway-id": "the host name", "loops": "GOMAXPROCS (cores)"}},
	{Name: "agent", Pkg: "./agent", Env: true, Doc: "agent/OPERATIONS.md"},
	{Name: "site", Pkg: "./site", Env: true, Doc: "agent/OPERATIONS.md"},
}

// Loadgen's flags are documented by hand in benchmarks/README.md; the test only checks
// that each one is named there.
var Loadgen = Binary{Name: "loadgen", Pkg: "./benchmarks/loadgen", Doc: "benchmarks/README.md"}

// Build compiles the binaries into dir.
func Build(root, dir string, bins ...Binary) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, b := range bins {
		args = append(args, b.Pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Help runs bin -h with a clean environment (no HEARTLINE_*, PORT or CONSUL_* variables
// that would change the defaults it prints) and returns its flags.
func Help(bin string) ([]Flag, error) {
	cmd := exec.Command(bin, "-h")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, _ := cmd.CombinedOutput() // -h exits 2 by design
	flags := ParseHelp(string(out))
	if len(flags) == 0 {
		return nil, fmt.Errorf("%s -h printed no flags:\n%s", bin, out)
	}
	return flags, nil
}

// ParseHelp reads the output of the flag package's PrintDefaults.
func ParseHelp(out string) []Flag {
	var flags []Flag
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  -"):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
			flags = append(flags, Flag{Name: name, Type: strings.TrimSpace(typ)})
		case strings.HasPrefix(line, "    \t") && len(flags) > 0:
			f := &flags[len(flags)-1]
			if f.Usage != "" {
				f.Usage += " "
			}
			f.Usage += strings.TrimPrefix(line, "    \t")
		}
	}
	for i := range flags {
		f := &flags[i]
		if i := strings.LastIndex(f.Usage, " (default "); i >= 0 && strings.HasSuffix(f.Usage, ")") {
			f.Default = strings.Trim(f.Usage[i+len(" (default "):len(f.Usage)-1], `"`)
			f.Usage = f.Usage[:i]
		}
	}
	return flags
}

// Table renders flags as a Markdown table.
func Table(b Binary, flags []Flag) string {
	var sb strings.Builder
	if b.Env {
		sb.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	} else {
		sb.WriteString("| flag | default | meaning |\n|---|---|---|\n")
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, f := range flags {
		def, machine := b.MachineDefaults[f.Name]
		if !machine {
			def = f.Default
		}
		name := "`-" + f.Name + "`"
		if f.Type != "" && !strings.HasPrefix(f.Type, "<") {
			name += " " + f.Type
		}
		d := "—"
		switch {
		case machine:
			d = cell(def)
		case def != "":
			d = "`" + cell(def) + "`"
		}
		if b.Env {
			fmt.Fprintf(&sb, "| %s | `%s` | %s | %s |\n", cell(name), wiring.EnvName(f.Name), d, cell(f.Usage))
		} else {
			fmt.Fprintf(&sb, "| %s | %s | %s |\n", cell(name), d, cell(f.Usage))
		}
	}
	return sb.String()
}

// Splice replaces the text between the begin and end markers of name in doc.
func Splice(doc, name, table string) (string, error) {
	begin := "<!-- flags:" + name + " begin -->\n"
	end := "<!-- flags:" + name + " end -->"
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("markers %q ... %q not found", strings.TrimSpace(begin), end)
	}
	return doc[:i+len(begin)] + table + doc[j:], nil
}
