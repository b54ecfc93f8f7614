package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// metric is one figure of a run.
type metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit,omitempty"`
	Value float64 `json:"value"`
	// Zero marks a count that must be zero (losses, drops, errors): the
	// harness exits non-zero when it is not.
	Zero bool `json:"must_be_zero,omitempty"`
}

// result is the figures of one run, in report order.
type result []metric

func (r *result) add(name, unit string, v float64) {
	*r = append(*r, metric{Name: name, Unit: unit, Value: v})
}

func (r *result) zero(name string, v float64) {
	*r = append(*r, metric{Name: name, Unit: "count", Value: v, Zero: true})
}

// get returns the value of the named metric, or 0.
func (r result) get(name string) float64 {
	for _, m := range r {
		if m.Name == name {
			return m.Value
		}
	}
	return 0
}

// report is what a command prints and writes with --json.
type report struct {
	Scenario string      `json:"scenario"`
	Command  string      `json:"command"`
	Machine  machineInfo `json:"machine"`
	Config   config      `json:"config"`
	Started  time.Time   `json:"started"`
	Runs     []result    `json:"runs"`
	Median   result      `json:"median"`
}

type machineInfo struct {
	NProc  int    `json:"nproc"`
	Memory string `json:"memory"`
	CPU    string `json:"cpu"`
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
}

func machine() machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Memory = procField("/proc/meminfo", "MemTotal:")
	m.CPU = procField("/proc/cpuinfo", "model name")
	m.CPU = strings.TrimSpace(strings.TrimPrefix(m.CPU, ":"))
	return m
}

// procField returns the rest of the first line of file starting with key.
func procField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// median returns, for each metric of the first run, the median of its
// values over the runs (the lower middle value for an even count, so that
// every figure is one that was measured).
func median(runs []result) result {
	if len(runs) == 0 {
		return nil
	}
	var out result
	for _, m := range runs[0] {
		var vs []float64
		for _, r := range runs {
			for _, x := range r {
				if x.Name == m.Name {
					vs = append(vs, x.Value)
				}
			}
		}
		slices.Sort(vs)
		m.Value = vs[(len(vs)-1)/2]
		out = append(out, m)
	}
	return out
}

func (rep *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## %s\n\n", rep.Scenario)
	fmt.Fprintf(&b, "    %s\n\n", rep.Command)
	m := rep.Machine
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s memory, %s, Linux %s.\n\n", m.NProc, m.CPU, m.Memory, m.Go, m.Kernel)
	b.WriteString("| metric | unit |")
	for i := range rep.Runs {
		fmt.Fprintf(&b, " run %d |", i+1)
	}
	if len(rep.Runs) > 1 {
		b.WriteString(" median |")
	}
	b.WriteString("\n| --- | --- |")
	for range rep.Runs {
		b.WriteString(" ---: |")
	}
	if len(rep.Runs) > 1 {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for _, med := range rep.Median {
		name := med.Name
		if med.Zero {
			name += " (must be 0)"
		}
		fmt.Fprintf(&b, "| %s | %s |", name, med.Unit)
		for _, r := range rep.Runs {
			fmt.Fprintf(&b, " %s |", format(r.get(med.Name)))
		}
		if len(rep.Runs) > 1 {
			fmt.Fprintf(&b, " **%s** |", format(med.Value))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func format(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15:
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// check fails when a count that must be zero is not, in any run.
func (rep *report) check() error {
	var errs []error
	for i, r := range rep.Runs {
		for _, m := range r {
			if m.Zero && m.Value != 0 {
				errs = append(errs, fmt.Errorf("run %d: %s = %v, must be 0", i+1, m.Name, m.Value))
			}
		}
	}
	return errors.Join(errs...)
}
