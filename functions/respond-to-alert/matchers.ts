import { RE2JS } from 're2js'

/**
 * Label matchers with Alertmanager's semantics: `=`, `!=`, `=~`, `!~`;
 * regexes are RE2 (Go's regexp), anchored at both ends; a missing label is
 * the empty string. As prometheus/alertmanager pkg/labels/matcher.go
 * (NewMatcher compiles `^(?:` + value + `)$` with Go's regexp) and
 * pkg/labels/parse.go (ParseMatcher: OpenMetrics escapes in the value).
 */
export interface Matcher {
  name: string
  op: '=' | '!=' | '=~' | '!~'
  value: string
  regex?: RE2JS
}

const MATCHER = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$/

/**
 * ParseMatcher's unescaping: `\"`, `\\` and `\n` are escapes; any other
 * backslash is a literal one, so `\d` in a regex keeps its meaning.
 */
function unescape(raw: string): string {
  return raw.replace(/\\(.)/gs, (whole, c: string) => c === 'n' ? '\n' : c === '"' || c === '\\' ? c : whole)
}

export function parseMatcher(text: string): Matcher {
  const m = MATCHER.exec(text)
  if (!m) throw new Error(`"${text}" is not a matcher (name, one of = != =~ !~, then a value, e.g. severity=~"critical|warning")`)
  const op = m[2] as Matcher['op']
  const value = m[3] !== undefined ? unescape(m[3]) : m[4]!
  if (op === '=~' || op === '!~') {
    try {
      return { name: m[1]!, op, value, regex: RE2JS.compile(`^(?:${value})$`) }
    } catch (err) {
      // RE2 refuses what it cannot run in linear time: lookaround, backreferences (JavaScript-only syntax).
      throw new Error(`"${text}": the regex does not compile as RE2, the syntax of Alertmanager's matchers (${err instanceof Error ? err.message : String(err)}); lookahead, lookbehind and backreferences are JavaScript only`, { cause: err })
    }
  }
  return { name: m[1]!, op, value }
}

export function matches(matcher: Matcher, labels: Record<string, string>): boolean {
  const v = labels[matcher.name] ?? ''
  switch (matcher.op) {
    case '=': return v === matcher.value
    case '!=': return v !== matcher.value
    case '=~': return matcher.regex!.matches(v)
    case '!~': return !matcher.regex!.matches(v)
  }
}

export function matchesAll(matchers: Matcher[], labels: Record<string, string>): boolean {
  return matchers.every((m) => matches(m, labels))
}

/** `{{ $labels.name }}` (and Go-template style `{{ .Labels.name }}`) from the alert's labels; a missing label throws. */
export function render(template: string, labels: Record<string, string>): string {
  return template.replace(/\{\{\s*(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, name: string) => {
    const v = labels[name]
    if (v === undefined || v === '') throw new Error(`the alert has no label "${name}"`)
    return v
  })
}
