import { Context, Liquid, Tag, TypeGuards, Value, type Emitter, type Parser, type TagToken, type Template, type TopLevelToken } from 'liquidjs'
import { formatDuration } from '../../shared/duration.ts'

/**
 * The template engine of notify's messages: liquidjs (Shopify's Liquid, as
 * Robusta's and Jekyll's templates), which evaluates no JavaScript and reads
 * only what a message's view gives it. A template writes a message with six
 * tags, each holding text:
 *
 *   {% severity %}critical{% endseverity %}
 *   {% title %}…{% endtitle %}   {% what %}…{% endwhat %}
 *   {% where %}…{% endwhere %}   {% action %}…{% endaction %}
 *   {% fact "Label" %}value{% endfact %}   (an empty value is left out)
 *
 * Text outside them is ignored; each part is trimmed. The filters below are
 * the few the messages need beside Liquid's own (join, size, default, …).
 */

export const MAX_FACTS = 8
export const MAX_VALUE = 160

export interface RenderedParts {
  severity?: string
  title?: string
  what?: string
  where?: string
  action?: string
  facts: Array<{ label: string; value: string }>
}

const PARTS = ['severity', 'title', 'what', 'where', 'action'] as const
const REGISTER = 'caretaker.message'

function collector(ctx: Context): RenderedParts {
  return ctx.getRegister<RenderedParts>(REGISTER, { facts: [] })
}

function readBlock(token: TagToken, remain: TopLevelToken[], parser: Parser): Template[] {
  const end = `end${token.name}`
  const templates: Template[] = []
  while (remain.length > 0) {
    const t = remain.shift()!
    if (TypeGuards.isTagToken(t) && t.name === end) return templates
    templates.push(parser.parseToken(t, remain))
  }
  throw new Error(`tag ${token.getText()} not closed: add {% ${end} %}`)
}

/** `{% title %}…{% endtitle %}` and its siblings: the rendered, trimmed text becomes that part of the message. */
class PartTag extends Tag {
  readonly #templates: Template[]
  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid, parser: Parser) {
    super(token, remain, liquid)
    this.#templates = readBlock(token, remain, parser)
  }

  * render(ctx: Context): Generator<unknown, void, unknown> {
    const text = yield this.liquid.renderer.renderTemplates(this.#templates, ctx)
    collector(ctx)[this.name as (typeof PARTS)[number]] = String(text).trim()
  }
}

/** `{% fact "Label" %}value{% endfact %}`: one line of the message's facts, left out when its value is empty. */
class FactTag extends Tag {
  readonly #label: Value
  readonly #templates: Template[]
  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid, parser: Parser) {
    super(token, remain, liquid)
    if (token.args.trim() === '') throw new Error('fact needs a label: {% fact "Label" %}')
    this.#label = new Value(token.args, liquid)
    this.#templates = readBlock(token, remain, parser)
  }

  * render(ctx: Context, _emitter: Emitter): Generator<unknown, void, unknown> {
    const label = yield this.#label.value(ctx)
    const value = String(yield this.liquid.renderer.renderTemplates(this.#templates, ctx)).trim()
    if (value.length > 0 && label !== undefined && label !== null && String(label).length > 0) collector(ctx).facts.push({ label: String(label), value })
  }
}

// --- filters: plain functions of their input, never throwing -------------

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}

/** `…` after `max - 1` characters. */
export function clip(text: string, max = MAX_VALUE): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** The first few of a list and how many more: `a, b, c and 4 more`. */
export function some(items: readonly string[], max = 3, separator = ', '): string {
  if (items.length <= max) return items.join(separator)
  return `${items.slice(0, max).join(separator)} and ${items.length - max} more`
}

/** `a`, `a and b`, `a, b and c`. */
export function and(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`
}

/** `1 file`, `3 files`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** Ends with a full stop unless it ends with one already (or `!`, `?`, `:`). */
export function sentence(text: string): string {
  const t = text.trim()
  return /[.!?:]$/.test(t) ? t : `${t}.`
}

export function bytes(n: unknown): string {
  if (!isNum(n)) return ''
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}

/** `2026-11-28 06:00 UTC`. */
export function stamp(iso: unknown): string {
  const t = typeof iso === 'string' ? Date.parse(iso) : Number.NaN
  return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : ''
}

/** `in 6d 2h`, `3h ago` or `now`, from `now`. */
export function relative(iso: unknown, now: string): string {
  const ms = (typeof iso === 'string' ? Date.parse(iso) : Number.NaN) - Date.parse(now)
  if (!Number.isFinite(ms)) return ''
  if (Math.abs(ms) < 60_000) return 'now'
  return ms > 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`
}

/** `2026-11-28 06:00 UTC (in 6d)`. */
export function when(iso: unknown, now: string): string {
  const s = stamp(iso)
  const r = relative(iso, now)
  return s && r ? `${s} (${r})` : s
}

/** `3h 56m old`. */
export function age(iso: unknown, now: string): string {
  if (typeof iso !== 'string') return ''
  const ms = Date.parse(now) - Date.parse(iso)
  return Number.isFinite(ms) ? `${formatDuration(ms)} old` : ''
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x) => x !== undefined && x !== null && x !== '').map(String) : []
}

/** The event's time, which the view gives every template as `event.time`. */
function eventTime(ctx: Context): string {
  const t = ctx.getSync(['event', 'time'])
  return typeof t === 'string' ? t : new Date().toISOString()
}

function registerFilters(liquid: Liquid): void {
  liquid.registerFilter('bytes', (v: unknown) => bytes(v))
  // Milliseconds, or seconds with `duration: "s"`.
  liquid.registerFilter('duration', (v: unknown, unit?: unknown) => (isNum(v) ? formatDuration(unit === 's' ? v * 1000 : v) : ''))
  liquid.registerFilter('stamp', (v: unknown) => stamp(v))
  liquid.registerFilter('relative', function (v: unknown) { return relative(v, eventTime(this.context)) })
  liquid.registerFilter('when', function (v: unknown) { return when(v, eventTime(this.context)) })
  liquid.registerFilter('age', function (v: unknown) { return age(v, eventTime(this.context)) })
  liquid.registerFilter('clip', (v: unknown, max?: unknown) => (v === undefined || v === null ? '' : clip(String(v), isNum(max) ? max : MAX_VALUE)))
  liquid.registerFilter('some', (v: unknown, max?: unknown, separator?: unknown) => some(strings(v), isNum(max) ? max : 3, typeof separator === 'string' ? separator : ', '))
  liquid.registerFilter('and', (v: unknown) => and(strings(v)))
  liquid.registerFilter('plural', (v: unknown, one?: unknown, many?: unknown) => (isNum(v) && typeof one === 'string' ? plural(v, one, typeof many === 'string' ? many : undefined) : ''))
  liquid.registerFilter('sentence', (v: unknown) => (v === undefined || v === null || v === '' ? '' : sentence(String(v))))
  liquid.registerFilter('capitalise', (v: unknown) => { const s = v === undefined || v === null ? '' : String(v); return s.charAt(0).toUpperCase() + s.slice(1) })
}

/**
 * One engine: the message tags, the filters, partials (`_<name>.liquid`,
 * included as `{% include "name" %}`) from memory, and limits so that a
 * template cannot loop or allocate without end.
 */
export function createEngine(partials: Record<string, string>): Liquid {
  const liquid = new Liquid({
    templates: partials,
    // Set, so that liquidjs does not ask Intl for the process's default locale when the engine is made: that first
    // Intl.DateTimeFormat reads about 4.5 MiB of ICU data into every notify process. en-US is what that default
    // is in the image (no LANG), so messages are unchanged; no shipped template formats dates.
    locale: 'en-US',
    // An unknown filter is a mistake the template's author should hear of when it is loaded.
    strictFilters: true,
    ownPropertyOnly: true,
    renderLimit: 1000,
    memoryLimit: 10_000_000,
    parseLimit: 1_000_000,
  })
  for (const part of PARTS) liquid.registerTag(part, PartTag)
  liquid.registerTag('fact', FactTag)
  registerFilters(liquid)
  return liquid
}

/** Renders a parsed template with a view; throws what liquidjs throws (a RenderError names the line). */
export function renderParts(liquid: Liquid, template: Template[], view: object): RenderedParts {
  const ctx = new Context(view, liquid.options, { sync: true }, { liquid })
  liquid.renderSync(template, ctx)
  const parts = collector(ctx)
  return { ...parts, facts: parts.facts.slice(0, MAX_FACTS).map((f) => ({ label: f.label, value: clip(f.value) })) }
}
