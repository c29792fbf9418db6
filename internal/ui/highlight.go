package ui

import (
	"html"
	"html/template"
	"path"
	"strings"
)

// YAML highlighting, line by line, on the server: a page reads the same
// without JavaScript. Each line's tokens are escaped and wrapped in spans
// of the classes the stylesheet colours: y-key, y-str, y-num (numbers,
// booleans, null), y-ref (anchors, aliases, tags), y-com (comments), y-doc
// (document markers). What is not recognised is plain text.

// isYAML tells whether a file of a package is YAML.
func isYAML(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".yaml", ".yml":
		return true
	}
	return path.Base(p) == "Kptfile"
}

// highlightLine is a line of text as HTML, highlighted if yaml.
func highlightLine(line string, yaml bool) template.HTML {
	if !yaml {
		return template.HTML(html.EscapeString(line))
	}
	var b strings.Builder
	trimmed := strings.TrimLeft(line, " ")
	indent := line[:len(line)-len(trimmed)]
	b.WriteString(indent)
	switch {
	case trimmed == "---" || trimmed == "...":
		span(&b, "y-doc", trimmed)
		return template.HTML(b.String())
	case strings.HasPrefix(trimmed, "#"):
		span(&b, "y-com", trimmed)
		return template.HTML(b.String())
	}
	for strings.HasPrefix(trimmed, "- ") || trimmed == "-" {
		b.WriteString("-")
		trimmed = trimmed[1:]
		rest := strings.TrimLeft(trimmed, " ")
		b.WriteString(trimmed[:len(trimmed)-len(rest)])
		trimmed = rest
	}
	if k, rest, ok := cutKey(trimmed); ok {
		span(&b, "y-key", k)
		b.WriteString(":")
		trimmed = rest
		sp := strings.TrimLeft(trimmed, " ")
		b.WriteString(trimmed[:len(trimmed)-len(sp)])
		trimmed = sp
	}
	value(&b, trimmed)
	return template.HTML(b.String())
}

// cutKey splits "key: rest" or "key:" at its colon; a key is plain or
// quoted.
func cutKey(s string) (key, rest string, ok bool) {
	end := 0
	switch {
	case s == "":
		return "", "", false
	case s[0] == '"' || s[0] == '\'':
		i := closingQuote(s)
		if i < 0 {
			return "", "", false
		}
		end = i + 1
	default:
		i := strings.Index(s, ":")
		for i >= 0 && i+1 < len(s) && s[i+1] != ' ' {
			j := strings.Index(s[i+1:], ":")
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i <= 0 || strings.ContainsAny(s[:i], "#{}[],&*!|>") {
			return "", "", false
		}
		end = i
	}
	if end >= len(s) || s[end] != ':' || (end+1 < len(s) && s[end+1] != ' ') {
		return "", "", false
	}
	return s[:end], s[end+1:], true
}

// closingQuote is the index of the quote closing s's first character, -1
// if none.
func closingQuote(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

// value writes a scalar (or the rest of a line) with a trailing comment.
func value(b *strings.Builder, s string) {
	if s == "" {
		return
	}
	body, comment := s, ""
	if s[0] == '"' || s[0] == '\'' {
		if i := closingQuote(s); i >= 0 {
			body, comment = s[:i+1], s[i+1:]
		}
	} else if i := strings.Index(s, " #"); i >= 0 {
		body, comment = s[:i], s[i:]
	}
	trimmedBody := strings.TrimRight(body, " ")
	switch {
	case trimmedBody == "":
	case trimmedBody[0] == '"' || trimmedBody[0] == '\'':
		span(b, "y-str", trimmedBody)
	case trimmedBody[0] == '&' || trimmedBody[0] == '*' || trimmedBody[0] == '!':
		span(b, "y-ref", trimmedBody)
	case scalarKind(trimmedBody):
		span(b, "y-num", trimmedBody)
	default:
		b.WriteString(html.EscapeString(trimmedBody))
	}
	b.WriteString(body[len(trimmedBody):])
	if comment != "" {
		sp := strings.TrimLeft(comment, " ")
		b.WriteString(comment[:len(comment)-len(sp)])
		span(b, "y-com", sp)
	}
}

// scalarKind tells whether a plain scalar is a number, a boolean or null.
func scalarKind(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "null", "~", "yes", "no", "on", "off":
		return true
	}
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case (r == '-' || r == '+') && i == 0, r == '.', r == '_', r == 'e' || r == 'E':
		default:
			return false
		}
	}
	return digits > 0
}

func span(b *strings.Builder, class, text string) {
	b.WriteString(`<span class="`)
	b.WriteString(class)
	b.WriteString(`">`)
	b.WriteString(html.EscapeString(text))
	b.WriteString(`</span>`)
}
