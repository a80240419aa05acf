package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Status is the outcome of one check.
type Status string

// Statuses. Only StatusFail makes a report fail: a warning is a setup that works for some
// clients or only after a manual step.
const (
	StatusOK   Status = "ok"
	StatusFail Status = "fail"
	StatusWarn Status = "warn"
	StatusSkip Status = "skip" // not run because an earlier step failed or it does not apply
)

// Step is one check's result. It is also the --json schema: an array of these objects.
type Step struct {
	// ID names the check (stable; docs/doctor.md lists them).
	ID string `json:"id"`
	// Status is ok, fail, warn or skip.
	Status Status `json:"status"`
	// Finding is one line saying what was found.
	Finding string `json:"finding"`
	// Fix is one line saying what to change ("" when there is nothing to change).
	Fix string `json:"fix"`
}

// Report is an ordered list of steps.
type Report struct {
	Steps []Step
}

func (r *Report) add(id string, st Status, finding, fix string) {
	r.Steps = append(r.Steps, Step{ID: id, Status: st, Finding: oneLine(finding), Fix: oneLine(fix)})
}

func (r *Report) ok(id, finding string)        { r.add(id, StatusOK, finding, "") }
func (r *Report) fail(id, finding, fix string) { r.add(id, StatusFail, finding, fix) }
func (r *Report) warn(id, finding, fix string) { r.add(id, StatusWarn, finding, fix) }
func (r *Report) skip(reason string, ids ...string) {
	for _, id := range ids {
		r.add(id, StatusSkip, reason, "")
	}
}

// Failed reports whether any step failed.
func (r *Report) Failed() bool {
	for _, s := range r.Steps {
		if s.Status == StatusFail {
			return true
		}
	}
	return false
}

// Step returns the step with that id, or nil.
func (r *Report) Step(id string) *Step {
	for i := range r.Steps {
		if r.Steps[i].ID == id {
			return &r.Steps[i]
		}
	}
	return nil
}

// Append adds the steps of other after r's.
func (r *Report) Append(other *Report) { r.Steps = append(r.Steps, other.Steps...) }

var marks = map[Status]string{StatusOK: "✓", StatusFail: "✗", StatusWarn: "!", StatusSkip: "-"}

// WriteText writes the human format: one line per step (mark, id, finding) and, for a step
// that is not ok, an indented line with the fix.
func (r *Report) WriteText(w io.Writer) error {
	width := 0
	for _, s := range r.Steps {
		width = max(width, len(s.ID))
	}
	var b strings.Builder
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "%s %-*s  %s\n", marks[s.Status], width, s.ID, s.Finding)
		if s.Fix != "" {
			fmt.Fprintf(&b, "  %*s  fix: %s\n", width, "", s.Fix)
		}
	}
	var ok, fail, warn int
	for _, s := range r.Steps {
		switch s.Status {
		case StatusOK:
			ok++
		case StatusFail:
			fail++
		case StatusWarn:
			warn++
		}
	}
	fmt.Fprintf(&b, "%d ok, %d failed, %d warnings\n", ok, fail, warn)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the steps as a JSON array (see Step).
func (r *Report) WriteJSON(w io.Writer) error {
	steps := r.Steps
	if steps == nil {
		steps = []Step{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(steps)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
