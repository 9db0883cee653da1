import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

/**
 * A real SMTP server for the tests (smtp-server), with AUTH PLAIN/LOGIN
 * checked against one user, and a small MIME reader for what it received.
 */

export interface ReceivedMail {
  readonly from: string
  readonly to: string[]
  readonly user: string | undefined
  readonly raw: string
}

export interface TestSmtp {
  readonly port: number
  readonly mails: ReceivedMail[]
  /** Answer the next `n` DATA commands with this reply code (e.g. 451 to force a retry). */
  failNext(n: number, code: number): void
  close(): Promise<void>
}

export async function startSmtp(user: string, password: string): Promise<TestSmtp> {
  const mails: ReceivedMail[] = []
  let failing = 0
  let failCode = 451
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === password) callback(null, { user: auth.username })
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        if (failing > 0) {
          failing--
          callback(Object.assign(new Error('try again later'), { responseCode: failCode }))
          return
        }
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
          raw: Buffer.concat(chunks).toString('utf8'),
        })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as AddressInfo
  return {
    port,
    mails,
    failNext(n, code) {
      failing = n
      failCode = code
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function decodeQuotedPrintable(text: string): string {
  const bytes: number[] = []
  const soft = text.replace(/=\r?\n/g, '')
  for (let i = 0; i < soft.length; i++) {
    const c = soft[i]!
    if (c === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(c, 'utf8'))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** RFC 2047 encoded words in a header (`=?UTF-8?Q?…?=` / `=?UTF-8?B?…?=`). */
function decodeHeader(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_m, _charset: string, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : decodeQuotedPrintable(text.replaceAll('_', ' ')))
}

interface Part {
  headers: Record<string, string>
  body: string
}

function splitPart(raw: string): Part {
  const at = raw.search(/\r?\n\r?\n/)
  const head = at < 0 ? raw : raw.slice(0, at)
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '')
  const headers: Record<string, string> = {}
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return { headers, body }
}

function decodeBody(part: Part): string {
  const enc = (part.headers['content-transfer-encoding'] ?? '').toLowerCase()
  if (enc === 'quoted-printable') return decodeQuotedPrintable(part.body)
  if (enc === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64').toString('utf8')
  return part.body
}

export interface ParsedMail {
  subject: string
  from: string
  to: string
  text: string | undefined
  html: string | undefined
}

/** Enough MIME for what nodemailer writes: headers, and the text and HTML parts of a multipart/alternative. */
export function parseMail(raw: string): ParsedMail {
  const top = splitPart(raw)
  const parts: Part[] = []
  const boundary = /boundary="?([^";]+)"?/i.exec(top.headers['content-type'] ?? '')?.[1]
  if (boundary) {
    for (const chunk of top.body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break
      parts.push(splitPart(chunk.replace(/^\r?\n/, '')))
    }
  } else {
    parts.push(top)
  }
  const of = (type: string) => {
    const p = parts.find((x) => (x.headers['content-type'] ?? '').toLowerCase().startsWith(type))
    return p ? decodeBody(p).replace(/\r\n/g, '\n').replace(/\n$/, '') : undefined
  }
  return { subject: decodeHeader(top.headers.subject ?? ''), from: top.headers.from ?? '', to: top.headers.to ?? '', text: of('text/plain'), html: of('text/html') }
}
