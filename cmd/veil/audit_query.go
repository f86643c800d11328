package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/veilgw/veil/audit"
)

// queryFlags are the filter flags query and report share.
type queryFlags struct {
	subject, role, route, path, record, action string
	since, until, output                       string
	denied                                     bool
}

func (q *queryFlags) register(cmd *cobra.Command, all bool) {
	fl := cmd.Flags()
	fl.StringVar(&q.subject, "subject", "", "only this subject id (exact)")
	fl.StringVar(&q.since, "since", "", "only events at or after this time: RFC 3339, a date (2026-11-22, UTC) or a duration back from now (24h)")
	fl.StringVar(&q.until, "until", "", "only events before this time (same forms as --since)")
	fl.StringVar(&q.output, "output", "table", "table or json")
	if !all {
		return
	}
	fl.StringVar(&q.role, "role", "", "only subjects with this role")
	fl.StringVar(&q.route, "route", "", "only this route name (exact)")
	fl.StringVar(&q.path, "path", "", "only paths matching this glob (* and ? stay within one segment, a /**/ segment matches any number)")
	fl.StringVar(&q.record, "record", "", `only events whose record_ids hold this id (as logged, "c-1", or its value, c-1)`)
	fl.StringVar(&q.action, "action", "", "only events with a transform of this action (e.g. decrypt)")
	fl.BoolVar(&q.denied, "denied", false, "only refused requests (allowed: false)")
}

func (q *queryFlags) filter(now time.Time) (audit.Filter, error) {
	f := audit.Filter{Subject: q.subject, Role: q.role, Route: q.route, PathGlob: q.path, RecordID: q.record,
		DeniedOnly: q.denied, Action: q.action}
	var err error
	if f.Since, err = parseWhen(q.since, now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = parseWhen(q.until, now); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	if q.output != "table" && q.output != "json" {
		return f, fmt.Errorf("--output %q: want table or json", q.output)
	}
	return f, f.Validate()
}

// parseWhen reads a time flag: RFC 3339, a UTC date, or a duration meaning
// that long before now. "" is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time, a date (YYYY-MM-DD) nor a positive duration (24h)", s)
	}
	return now.Add(-d), nil
}

// warnMalformed reports the lines Query could not read, so that a damaged
// trail is never silently under-reported.
func warnMalformed(w io.Writer, st audit.QueryStats) {
	for _, p := range st.MalformedAt {
		fmt.Fprintf(w, "warning: %s: not an audit event, skipped\n", p)
	}
	if more := st.Malformed - len(st.MalformedAt); more > 0 {
		fmt.Fprintf(w, "warning: %d more malformed line(s) skipped\n", more)
	}
}

func auditQueryCmd() *cobra.Command {
	var q queryFlags
	cmd := &cobra.Command{
		Use:   "query [flags] FILE...",
		Short: "Print the audit events that match filters (files in any order; gzip accepted)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := q.filter(time.Now())
			if err != nil {
				return fmt.Errorf("audit query: %w", err)
			}
			out := cmd.OutOrStdout()
			var emit func(*audit.Record) error
			var tw *tabwriter.Writer
			if q.output == "json" {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				emit = func(r *audit.Record) error { return enc.Encode(r) }
			} else {
				tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				header := false
				emit = func(r *audit.Record) error {
					if !header {
						header = true
						fmt.Fprintln(tw, "TIME\tSUBJECT\tROLES\tMETHOD\tPATH\tSTATUS\tRESULT\tROUTE\tTRANSFORMS\tRECORDS")
					}
					_, err := fmt.Fprintln(tw, tableRow(r))
					return err
				}
			}
			st, err := audit.Query(args, f, emit)
			if tw != nil {
				if ferr := tw.Flush(); err == nil {
					err = ferr
				}
			}
			warnMalformed(cmd.ErrOrStderr(), st)
			if err != nil {
				return err
			}
			if st.Matched == 0 && tw != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "no events matched")
			}
			return nil
		},
	}
	q.register(cmd, true)
	return cmd
}

// tableRow renders one event as tab-separated cells.
func tableRow(r *audit.Record) string {
	result := "allowed"
	if !r.Allowed {
		result = "denied"
	}
	if r.ErrorCode != "" {
		result += " " + r.ErrorCode
	}
	cells := []string{
		r.Time.UTC().Format(time.RFC3339),
		orDash(r.Subject.ID),
		orDash(strings.Join(r.Subject.Roles, ",")),
		orDash(r.Method),
		orDash(r.Path),
		strconv.Itoa(r.Status),
		result,
		orDash(r.Route),
		transformSummary(r.Transforms),
		recordSummary(r.RecordIDs, r.RecordIDsTruncated),
	}
	for i, c := range cells {
		cells[i] = cellSafe(c)
	}
	return strings.Join(cells, "\t")
}

// transformSummary names each transform by action and the last name of its
// path (tokenize:email x10); the json output has the full paths.
func transformSummary(ts []audit.RecordTransform) string {
	if len(ts) == 0 {
		return "-"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s:%s x%d", t.Action, fieldName(t.Path), t.Count)
	}
	return strings.Join(parts, ", ")
}

// fieldName returns the last member name of a JSONPath ($.a[*].email ->
// email, $..ssn -> ssn, $['x'] -> x), else the path.
func fieldName(p string) string {
	s := p
	for strings.HasSuffix(s, "]") {
		i := strings.LastIndex(s, "[")
		if i < 0 {
			break
		}
		if q := strings.Trim(s[i+1:len(s)-1], `'"`); q != "*" && q != "" && !isDigits(q) && !strings.ContainsAny(q, "?:(") {
			return q
		}
		s = s[:i]
	}
	if i := strings.LastIndex(s, "."); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return p
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// recordSummary shows the first three record ids and how many more.
func recordSummary(ids []string, cut bool) string {
	if len(ids) == 0 {
		return "-"
	}
	n := min(len(ids), 3)
	shown := make([]string, n)
	for i := range shown {
		shown[i] = audit.RecordIDText(ids[i])
	}
	s := strings.Join(shown, ",")
	if len(ids) > n {
		s += fmt.Sprintf(" +%d", len(ids)-n)
	}
	if cut {
		s += " (truncated)"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cellSafe keeps a logged string from breaking the table or writing
// terminal control sequences: control characters become '?'.
func cellSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func auditReportCmd() *cobra.Command {
	var q queryFlags
	cmd := &cobra.Command{
		Use:   "report --since T --until T [--subject S] FILE...",
		Short: "Sum per subject and protected field the values seen in clear, masked and tokenized",
		Long: `Sum, per subject and per protected field (transform path), the values the gateway
revealed in clear (decrypt, detokenize, fpe_decrypt), masked (redact, mask, replace,
generalize) or pseudonymised (tokenize, hash, fpe, encrypt) in allowed requests; unknown
actions count as other. Per subject: requests, refused requests, the record ids of its
allowed events, and those of its allowed events in which a value was revealed in clear.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := q.filter(time.Now())
			if err != nil {
				return fmt.Errorf("audit report: %w", err)
			}
			rep, st, err := audit.BuildAccessReport(args, f)
			warnMalformed(cmd.ErrOrStderr(), st)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if q.output == "json" {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return writeReport(out, rep)
		},
	}
	q.register(cmd, false)
	return cmd
}

func writeReport(w io.Writer, rep *audit.AccessReport) error {
	bound := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "audit report from %s until %s: %d subject(s)\n", bound(rep.Since, "the beginning"), bound(rep.Until, "the end"), len(rep.Subjects))
	for _, s := range rep.Subjects {
		subject := s.Subject
		if subject == "" {
			subject = "(none)"
		}
		fmt.Fprintf(w, "\nsubject %s: %d request(s), %d denied\n", cellSafe(subject), s.Requests, s.Denied)
		if len(s.Fields) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  PATH\tCLEAR\tMASKED\tTOKENIZED\tOTHER")
			for _, f := range s.Fields {
				fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", cellSafe(f.Path), f.Clear, f.Masked, f.Tokenized, f.Other)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "  records (%d%s): %s\n", len(s.Records), cutMark(s.RecordsTruncated), idList(s.Records))
		if _, err := fmt.Fprintf(w, "  records seen in clear (%d%s): %s\n", len(s.ClearRecords), cutMark(s.ClearRecordsTruncated), idList(s.ClearRecords)); err != nil {
			return err
		}
	}
	return nil
}

func cutMark(cut bool) string {
	if cut {
		return ", truncated"
	}
	return ""
}

func idList(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = cellSafe(audit.RecordIDText(id))
	}
	return strings.Join(out, ", ")
}
