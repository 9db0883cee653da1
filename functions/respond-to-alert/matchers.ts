/**
 * Label matchers with Alertmanager's semantics: `=`, `!=`, `=~`, `!~`;
 * regexes are anchored at both ends; a missing label is the empty string.
 */
export interface Matcher {
  name: string
  op: '=' | '!=' | '=~' | '!~'
  value: string
  regex?: RegExp
}

const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$/

export function parseMatcher(text: string): Matcher {
  const m = MATCHER.exec(text)
  if (!m) throw new Error(`"${text}" is not a matcher (name, one of = != =~ !~, then a value, e.g. severity=~"critical|warning")`)
  const op = m[2] as Matcher['op']
  const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[4]!
  if (op === '=~' || op === '!~') {
    try {
      return { name: m[1]!, op, value, regex: new RegExp(`^(?:${value})$`) }
    } catch {
      throw new Error(`"${text}": the regex does not compile`)
    }
  }
  return { name: m[1]!, op, value }
}

export function matches(matcher: Matcher, labels: Record<string, string>): boolean {
  const v = labels[matcher.name] ?? ''
  switch (matcher.op) {
    case '=': return v === matcher.value
    case '!=': return v !== matcher.value
    case '=~': return matcher.regex!.test(v)
    case '!~': return !matcher.regex!.test(v)
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
