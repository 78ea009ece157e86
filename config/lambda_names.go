package config

import (
	"regexp"
	"strings"
)

// What Lambda accepts as a function and an alias, so that a qualified name
// ("fn:live"), an alias ARN or a version in place of an alias is caught at
// load, with the fix, rather than at the first rollback.
var (
	functionNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	functionARNRE  = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_-]{1,64})(?::(.+))?$`)
	partialARNRE   = regexp.MustCompile(`^\d{12}:function:([a-zA-Z0-9_-]{1,64})(?::(.+))?$`)
	aliasRE        = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	versionRE      = regexp.MustCompile(`^\d+$`)
)

// functionForm is how a function reference is written.
type functionForm int

const (
	fnInvalid   functionForm = iota
	fnName                   // a plain name
	fnARN                    // a full or partial ARN, maybe qualified
	fnQualified              // "name:qualifier", not an ARN
)

// parseFunction reads a function reference: its form and, for ARNs and
// qualified names, the qualifier (the name as written for the latter).
func parseFunction(fn string) (form functionForm, name, qualifier string) {
	switch {
	case functionNameRE.MatchString(fn):
		return fnName, fn, ""
	case functionARNRE.MatchString(fn):
		m := functionARNRE.FindStringSubmatch(fn)
		return fnARN, m[1], m[2]
	case partialARNRE.MatchString(fn):
		m := partialARNRE.FindStringSubmatch(fn)
		return fnARN, m[1], m[2]
	case strings.Count(fn, ":") == 1 && !strings.HasPrefix(fn, "arn:"):
		name, q, _ := strings.Cut(fn, ":")
		return fnQualified, name, q
	}
	return fnInvalid, "", ""
}

// checkFunction validates target.function: a name, a full or partial ARN,
// never with a qualifier.
func (l *loader) checkFunction(path, fn string) {
	fn = strings.TrimSpace(fn)
	if fn == "" {
		l.add(path, "required")
		return
	}
	switch form, name, qualifier := parseFunction(fn); form {
	case fnARN:
		if qualifier != "" {
			l.add(path, "%q carries the qualifier %q: give the unqualified function and put the alias in alias", fn, qualifier)
		}
	case fnQualified:
		l.add(path, "%q is a qualified function name: write function = %q and alias = %q", fn, name, qualifier)
	case fnInvalid:
		l.add(path, "%q is not a Lambda function name (letters, digits, - and _, at most 64) or function ARN", fn)
	}
}

// checkAlias validates target.alias: an alias name, not an ARN, a
// qualified name or a version.
func (l *loader) checkAlias(path, alias string) {
	switch {
	case strings.TrimSpace(alias) == "":
		l.add(path, "required")
	case strings.HasPrefix(alias, "arn:"):
		name := alias[strings.LastIndex(alias, ":")+1:]
		l.add(path, "must be the alias's name (%q), not an ARN: the function goes in function", name)
	case strings.Contains(alias, ":"):
		l.add(path, "%q is a qualified name: write only the alias's name (%q); the function goes in function", alias, alias[strings.LastIndex(alias, ":")+1:])
	case alias == "$LATEST" || versionRE.MatchString(alias):
		l.add(path, "%q is a version, not an alias: canaryd watches an alias (e.g. \"live\") and moves it between versions", alias)
	case !aliasRE.MatchString(alias):
		l.add(path, "%q is not a Lambda alias name (letters, digits, - and _, at most 128)", alias)
	}
}

// checkHookFunction validates a lambda traffic hook's function: a name, a
// full or partial ARN, each with an optional version or alias qualifier
// (the function invoked is that version or alias).
func (l *loader) checkHookFunction(path, fn string) {
	fn = strings.TrimSpace(fn)
	if fn == "" {
		l.add(path, "required")
		return
	}
	form, name, qualifier := parseFunction(fn)
	switch {
	case form == fnInvalid:
		l.add(path, "%q is not a Lambda function name (letters, digits, - and _, at most 64), qualified name or function ARN", fn)
		return
	case form == fnQualified && (!functionNameRE.MatchString(name) || qualifier == ""):
		l.add(path, "%q is not a Lambda function name (letters, digits, - and _, at most 64) with a version or alias", fn)
		return
	}
	if qualifier != "" && qualifier != "$LATEST" && !versionRE.MatchString(qualifier) && !aliasRE.MatchString(qualifier) {
		l.add(path, "%q: the qualifier %q is not a version or an alias name", fn, qualifier)
	}
}
