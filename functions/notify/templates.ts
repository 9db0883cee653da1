import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Liquid, Template } from 'liquidjs'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { SEVERITIES, type Severity } from './config.ts'
import { createEngine, renderParts, clip } from './liquid.ts'
import { family, humanType, prepareView } from './views/index.ts'

export { family, humanType, inferSeverity } from './views/index.ts'

/**
 * What a person reads: a title, what happened, where, what to do, a few facts
 * and links. Each outbound type of the catalogue has its template,
 * `templates/<type>.liquid`, rendered with the view of its data that
 * `views/` prepares (typed from the catalogue's schema); every other type
 * gets `templates/generic.liquid`. The shipped templates are defaults: a
 * directory of files (notify's `templatesDir`, a ConfigMap) overrides any of
 * them, and its partials (`_<name>.liquid`). An override that does not parse
 * is reported at start and not used; one that fails when rendering falls
 * back to the shipped template, reported, and the message still goes out.
 */

export interface Fact {
  readonly label: string
  readonly value: string
}

export interface Link {
  readonly label: string
  readonly url: string
}

export interface Message {
  readonly type: string
  readonly subject: string | undefined
  readonly severity: Severity
  readonly title: string
  readonly what: string
  readonly where: string
  readonly action: string
  readonly facts: readonly Fact[]
  readonly links: readonly Link[]
  /** When the event happened (the event's time). */
  readonly time: string
}

export interface TemplateInput {
  readonly type: string
  readonly subject: string | undefined
  readonly data: unknown
  readonly time: string
}

/** The shipped templates: beside this module in the sources, beside the bundle in dist/notify (scripts/build.ts copies them). */
export const SHIPPED_TEMPLATES = fileURLToPath(new URL('./templates/', import.meta.url))

const GENERIC = 'generic'
const MAX_TITLE = 180

/** A template that could not be used, and why: for the start-up report, the log and the metric. */
export interface TemplateFailure {
  /** The template's name: an event type, `generic`, or a partial `_<name>`. */
  readonly template: string
  readonly file: string
  readonly line: number | undefined
  readonly error: CaretakerError
}

interface Source {
  readonly name: string
  readonly file: string
  readonly text: string
}

/** `<name>.liquid` files of a directory; a mounted ConfigMap's own `..data` entries are skipped. */
function readTemplates(dir: string): Source[] {
  return readdirSync(dir).filter((f) => f.endsWith('.liquid') && !f.startsWith('.')).sort()
    .map((f) => ({ name: f.slice(0, -'.liquid'.length), file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }))
}

function lineOf(err: unknown): number | undefined {
  const m = /line:(\d+)/.exec(err instanceof Error ? err.message : '')
  return m ? Number(m[1]) : undefined
}

function failure(template: string, file: string, phase: 'parse' | 'render', err: unknown): TemplateFailure {
  const line = lineOf(err)
  // liquidjs's message names the tag or filter and its position; the file is added here, as the user knows it.
  const reason = (err instanceof Error ? err.message : String(err)).replace(/, line:\d+, col:\d+$/, '')
  const message = `notify template ${file}${line !== undefined ? ` line ${line}` : ''} ${phase === 'parse' ? 'does not parse' : 'failed to render'}: ${reason}`
  return { template, file, line, error: new CaretakerError(Errors.InvalidTemplate, message, { details: { template, file, line, phase } }) }
}

function isSeverity(v: string | undefined): v is Severity {
  return (SEVERITIES as readonly string[]).includes(v ?? '')
}

/** Links the event itself carries: top-level `…url` fields that are http(s). */
function dataLinks(d: Record<string, unknown>): Link[] {
  return Object.entries(d)
    .filter(([k, v]) => /url$/i.test(k) && typeof v === 'string' && /^https?:\/\//.test(v))
    .map(([k, v]) => ({ label: k.replace(/url$/i, '').replace(/([a-z])([A-Z])/g, '$1 $2') || 'link', url: v as string }))
}

interface Parsed {
  readonly name: string
  readonly file: string
  readonly engine: Liquid
  readonly template: Template[]
}

export interface MessageTemplatesOptions {
  /** A directory of overrides (`<type>.liquid`, `generic.liquid`, `_<partial>.liquid`), e.g. a mounted ConfigMap. */
  readonly dir?: string | undefined
  /** Told of each render that fell back to the shipped template (or, were a shipped one to fail, to a bare message). */
  readonly onFallback?: (f: TemplateFailure) => void
}

/**
 * A shipped template, parsed at its first render: parsing all of them at
 * start took about 45 ms of notify's cold start, for types most instances
 * never see. They are the image's own files, each parsed and rendered by the
 * template tests; an override is parsed at start, so that one that does not
 * parse is reported then.
 */
function parsedWhenUsed(s: Source, engine: Liquid): Parsed {
  let template: Template[] | undefined
  return { name: s.name, file: s.file, engine, get template() { return (template ??= engine.parse(s.text, s.file)) } }
}

export class MessageTemplates {
  /** Overrides that could not be used (they do not parse, or name no event type): reported at start. */
  readonly problems: TemplateFailure[] = []
  /** The templates an override replaces (or changes through a partial). */
  readonly overridden: string[] = []
  readonly #defaults = new Map<string, Parsed>()
  readonly #active = new Map<string, Parsed>()
  readonly #onFallback: ((f: TemplateFailure) => void) | undefined

  constructor(options: MessageTemplatesOptions = {}) {
    this.#onFallback = options.onFallback
    const shipped = readTemplates(SHIPPED_TEMPLATES)
    // A partial's last line break is its file's, not its text's: it is included inside sentences.
    const partials = (sources: Source[]) => Object.fromEntries(sources.filter((s) => s.name.startsWith('_')).map((s) => [s.name.slice(1), s.text.replace(/\r?\n$/, '')]))
    const shippedEngine = createEngine(partials(shipped))
    for (const s of shipped) if (!s.name.startsWith('_')) this.#defaults.set(s.name, parsedWhenUsed(s, shippedEngine))
    let user: Source[] = []
    try {
      if (options.dir && existsSync(options.dir)) user = readTemplates(options.dir)
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error'
      this.problems.push({ template: '*', file: options.dir!, line: undefined, error: new CaretakerError(Errors.InvalidTemplate, `notify's templatesDir ${options.dir!} cannot be read (${code}): the shipped templates are used`, { details: { file: options.dir } }) })
    }
    if (user.length === 0) {
      for (const [name, p] of this.#defaults) this.#active.set(name, p)
      return
    }
    // A partial that does not parse is left out: the shipped one (if any) stays.
    const userPartials = new Set<string>()
    for (const s of user.filter((u) => u.name.startsWith('_'))) {
      try {
        shippedEngine.parse(s.text, s.file)
        userPartials.add(s.name.slice(1))
      } catch (err) {
        this.problems.push(failure(s.name, s.file, 'parse', err))
      }
    }
    const userEngine = createEngine({ ...partials(shipped), ...partials(user.filter((u) => userPartials.has(u.name.slice(1)))) })
    const overrides = new Map(user.filter((u) => !u.name.startsWith('_')).map((u) => [u.name, u]))
    for (const [name, s] of overrides) {
      if (!this.#defaults.has(name)) {
        this.problems.push({ template: name, file: s.file, line: undefined, error: new CaretakerError(Errors.InvalidTemplate, `notify template ${s.file} names no template notify ships: name it after an event type (e.g. dev.caretaker.backup.verified.liquid), generic.liquid or _<partial>.liquid`, { details: { template: name, file: s.file } }) })
      }
    }
    const usesPartial = (text: string) => [...userPartials].some((p) => new RegExp(`\\{%-?\\s*(include|render)\\s+["']${p}["']`).test(text))
    for (const [name, def] of this.#defaults) {
      const own = overrides.get(name)
      const source = own ?? shipped.find((s) => s.name === name)!
      if (!own && !usesPartial(source.text)) {
        this.#active.set(name, def)
        continue
      }
      try {
        this.#active.set(name, { name, file: source.file, engine: userEngine, template: userEngine.parse(source.text, source.file) })
        this.overridden.push(name)
      } catch (err) {
        this.problems.push(failure(name, source.file, 'parse', err))
        this.#active.set(name, def)
      }
    }
  }

  /** Whether the type has a template of its own (else it gets the generic one). */
  has(type: string): boolean {
    return type !== GENERIC && this.#defaults.has(type)
  }

  /** The message of an event: never throws, whatever its data. */
  render(input: TemplateInput, configLinks: ReadonlyArray<{ label: string; url: string }> = []): Message {
    const d = input.data && typeof input.data === 'object' && !Array.isArray(input.data) ? input.data as Record<string, unknown> : {}
    const name = this.has(input.type) ? input.type : GENERIC
    const view = prepareView(input, name === GENERIC)
    const active = this.#active.get(name)!
    const shipped = this.#defaults.get(name)!
    let body = this.#attempt(active, view)
    if (!('title' in body) && active !== shipped) {
      this.#onFallback?.(failure(name, active.file, 'render', body.error))
      body = this.#attempt(shipped, view)
    }
    if (!('title' in body)) this.#onFallback?.(failure(name, shipped.file, 'render', body.error))
    // A shipped template that fails is a bug the template tests catch; still, the notification goes out.
    const b = 'title' in body ? body : { severity: 'warning' as const, title: humanType(input.type), what: `The ${input.type} message could not be written (${clip(body.error instanceof Error ? body.error.message : 'error', 200)}).`, where: input.subject ?? 'the cluster', action: 'Read the event in notify\'s log; report the template problem.', facts: [] }
    const fill = (url: string) => url
      .replaceAll('{type}', encodeURIComponent(input.type))
      .replaceAll('{subject}', encodeURIComponent(input.subject ?? ''))
      .replaceAll('{family}', encodeURIComponent(family(input.type)))
    return {
      type: input.type,
      subject: input.subject,
      time: input.time,
      ...b,
      // An outcome its function only planned (its own dry-run) says so first thing.
      title: clip(d.dryRun === true ? `${b.title} (dry-run: nothing was changed)` : b.title, MAX_TITLE),
      links: [...dataLinks(d), ...configLinks.map((l) => ({ label: l.label, url: fill(l.url) }))],
    }
  }

  #attempt(p: Parsed, view: object): Omit<Message, 'type' | 'subject' | 'time' | 'links'> | { error: unknown } {
    try {
      const parts = renderParts(p.engine, p.template, view)
      const missing = (['title', 'what', 'where', 'action'] as const).filter((k) => !parts[k])
      if (!isSeverity(parts.severity)) throw new Error(`{% severity %} must be one of ${SEVERITIES.join(', ')}, not ${JSON.stringify(parts.severity ?? '')}`)
      if (missing.length > 0) throw new Error(`the message has no ${missing.join(', ')}: every template writes {% title %}, {% what %}, {% where %} and {% action %}`)
      return { severity: parts.severity, title: parts.title!, what: parts.what!, where: parts.where!, action: parts.action!, facts: parts.facts }
    } catch (err) {
      return { error: err }
    }
  }
}

let shipped: MessageTemplates | undefined

/** The shipped templates, loaded once. */
export function shippedTemplates(): MessageTemplates {
  shipped ??= new MessageTemplates()
  return shipped
}

export function hasSpecificTemplate(type: string): boolean {
  return shippedTemplates().has(type)
}

/** The message of an event with the shipped templates. */
export function renderMessage(input: TemplateInput, configLinks: ReadonlyArray<{ label: string; url: string }> = []): Message {
  return shippedTemplates().render(input, configLinks)
}
