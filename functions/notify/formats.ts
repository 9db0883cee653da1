import type { Channel, Severity } from './config.ts'
import type { Message } from './templates.ts'

/**
 * One message, written for each kind of channel: Mattermost and Slack
 * incoming-webhook payloads, a generic JSON document, an e-mail (subject,
 * text and HTML), and one log line.
 */

/** How often the message stood for more than itself. */
export interface Counts {
  /** Repeats of the same type and subject collapsed into this message. */
  readonly repeats: number
  /** When repeats were collapsed: since when. */
  readonly since?: string
  /** Messages of this channel dropped by the rate limit since the last one sent. */
  readonly heldBack: number
}

export interface Email {
  readonly subject: string
  readonly text: string
  readonly html: string
}

const ICON: Record<Severity, string> = { critical: ':red_circle:', warning: ':warning:', info: ':white_check_mark:' }
const COLOR: Record<Severity, string> = { critical: '#d0021b', warning: '#f5a623', info: '#2e7d32' }
const LABEL: Record<Severity, string> = { critical: 'CRITICAL', warning: 'WARNING', info: 'INFO' }

function notes(counts: Counts): string[] {
  const out: string[] = []
  if (counts.repeats > 0) out.push(`Repeated ${counts.repeats} more time${counts.repeats === 1 ? '' : 's'}${counts.since ? ` since ${counts.since}` : ''} (collapsed into this message).`)
  if (counts.heldBack > 0) out.push(`${counts.heldBack} earlier message${counts.heldBack === 1 ? ' was' : 's were'} held back by the rate limit.`)
  return out
}

function headline(m: Message, cluster: string | undefined): string {
  return `${LABEL[m.severity]} · ${m.title}${cluster ? ` · ${cluster}` : ''}`
}

/** Markdown as Mattermost reads it. */
function markdown(m: Message, counts: Counts, cluster: string | undefined): string {
  const lines = [
    `${ICON[m.severity]} **${headline(m, cluster)}**`,
    `**What:** ${m.what}`,
    `**Where:** ${m.where}`,
    `**To do:** ${m.action}`,
  ]
  if (m.facts.length > 0) lines.push(m.facts.map((f) => `${f.label}: \`${f.value.replaceAll('`', "'")}\``).join(' · '))
  if (m.links.length > 0) lines.push(m.links.map((l) => `[${l.label}](${l.url})`).join(' · '))
  lines.push(...notes(counts).map((n) => `_${n}_`))
  lines.push(`_${m.type} at ${m.time}_`)
  return lines.join('\n')
}

export function mattermostPayload(m: Message, counts: Counts, channel: Channel, cluster: string | undefined): Record<string, unknown> {
  return {
    text: markdown(m, counts, cluster),
    ...(channel.username ? { username: channel.username } : {}),
    ...(channel.channel ? { channel: channel.channel } : {}),
    props: { caretaker: { type: m.type, subject: m.subject ?? null, severity: m.severity } },
  }
}

/** Slack's mrkdwn: only `&`, `<` and `>` need escaping. */
function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

export function slackPayload(m: Message, counts: Counts, channel: Channel, cluster: string | undefined): Record<string, unknown> {
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: headline(m, cluster).slice(0, 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: `*What:* ${slackEscape(m.what)}\n*Where:* ${slackEscape(m.where)}\n*To do:* ${slackEscape(m.action)}` } },
  ]
  if (m.facts.length > 0) blocks.push({ type: 'section', fields: m.facts.slice(0, 10).map((f) => ({ type: 'mrkdwn', text: `*${slackEscape(f.label)}*\n${slackEscape(f.value)}` })) })
  if (m.links.length > 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: m.links.map((l) => `<${l.url}|${slackEscape(l.label)}>`).join(' · ') } })
  blocks.push({ type: 'context', elements: [...notes(counts), `${m.type} at ${m.time}`].map((text) => ({ type: 'mrkdwn', text: slackEscape(text) })) })
  return {
    // The notification text (and what clients without blocks show).
    text: `${ICON[m.severity]} ${slackEscape(headline(m, cluster))}`,
    blocks,
    ...(channel.username ? { username: channel.username } : {}),
    ...(channel.channel ? { channel: channel.channel } : {}),
  }
}

export function webhookPayload(m: Message, counts: Counts, cluster: string | undefined, event: { id: string; source: string; type: string; subject?: string | undefined; data: unknown }): Record<string, unknown> {
  return {
    severity: m.severity,
    title: m.title,
    what: m.what,
    where: m.where,
    action: m.action,
    facts: m.facts,
    links: m.links,
    repeats: counts.repeats,
    ...(counts.since ? { repeatsSince: counts.since } : {}),
    heldBack: counts.heldBack,
    ...(cluster ? { cluster } : {}),
    time: m.time,
    event: { id: event.id, source: event.source, type: event.type, ...(event.subject ? { subject: event.subject } : {}), data: event.data },
  }
}

function plainText(m: Message, counts: Counts, cluster: string | undefined): string {
  const lines = [
    headline(m, cluster),
    '',
    `What:  ${m.what}`,
    `Where: ${m.where}`,
    `To do: ${m.action}`,
  ]
  if (m.facts.length > 0) lines.push('', ...m.facts.map((f) => `${f.label}: ${f.value}`))
  if (m.links.length > 0) lines.push('', ...m.links.map((l) => `${l.label}: ${l.url}`))
  const n = notes(counts)
  if (n.length > 0) lines.push('', ...n)
  lines.push('', `${m.type} at ${m.time}`)
  return lines.join('\n')
}

function html(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

export function emailMessage(m: Message, counts: Counts, cluster: string | undefined): Email {
  const row = (label: string, value: string) => `<tr><th align="left" valign="top">${html(label)}</th><td>${html(value)}</td></tr>`
  const body = [
    `<h2 style="color:${COLOR[m.severity]}">${html(headline(m, cluster))}</h2>`,
    '<table cellpadding="4">',
    row('What', m.what), row('Where', m.where), row('To do', m.action),
    ...m.facts.map((f) => row(f.label, f.value)),
    '</table>',
    m.links.length > 0 ? `<p>${m.links.map((l) => `<a href="${html(l.url)}">${html(l.label)}</a>`).join(' · ')}</p>` : '',
    ...notes(counts).map((n) => `<p><em>${html(n)}</em></p>`),
    `<p style="color:#777">${html(m.type)} at ${html(m.time)}</p>`,
  ].filter(Boolean).join('\n')
  const repeated = counts.repeats > 0 ? ` (×${counts.repeats + 1})` : ''
  return {
    subject: `[Caretaker ${LABEL[m.severity]}] ${m.title}${repeated}${cluster ? ` (${cluster})` : ''}`.replace(/[\r\n]+/g, ' '),
    text: plainText(m, counts, cluster),
    html: `<!doctype html><html><body>\n${body}\n</body></html>`,
  }
}

export function logLine(m: Message, counts: Counts, cluster: string | undefined): string {
  return plainText(m, counts, cluster)
}
