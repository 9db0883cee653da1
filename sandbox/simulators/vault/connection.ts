import { Duplex } from 'node:stream'
import type { Socket } from 'node:net'

/**
 * Vault's clients send the non-standard HTTP method LIST (node-vault's
 * `list()` does by default). Node's HTTP parser rejects unknown methods with a
 * 400 before any handler runs, so every connection passes through this
 * framing-aware rewriter: a request line `LIST /v1/x HTTP/1.1` becomes
 * `GET /v1/x?list=true HTTP/1.1`, which Vault itself treats as the same
 * operation. Everything else (other heads, bodies, chunked framing) passes
 * through byte for byte.
 */
export class RequestRewriter {
  #mode: 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'trailer' | 'passthrough' = 'head'
  #pending: Buffer = Buffer.alloc(0)
  #remaining = 0

  push(chunk: Buffer): Buffer {
    const out: Buffer[] = []
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk
    this.#pending = Buffer.alloc(0)
    while (buf.length > 0) {
      if (this.#mode === 'passthrough') {
        out.push(buf)
        break
      }
      if (this.#mode === 'body' || this.#mode === 'chunk-data') {
        const n = Math.min(this.#remaining, buf.length)
        out.push(buf.subarray(0, n))
        buf = buf.subarray(n)
        this.#remaining -= n
        if (this.#remaining === 0) this.#mode = this.#mode === 'body' ? 'head' : 'chunk-size'
        continue
      }
      const terminator = this.#mode === 'head' ? '\r\n\r\n' : '\r\n'
      const end = buf.indexOf(terminator)
      if (end < 0) {
        // Heads larger than this are not Vault traffic; let Node's parser judge them.
        if (buf.length > 65536) {
          this.#mode = 'passthrough'
          continue
        }
        this.#pending = buf
        break
      }
      const piece = buf.subarray(0, end + terminator.length)
      buf = buf.subarray(end + terminator.length)
      if (this.#mode === 'head') out.push(this.#head(piece))
      else if (this.#mode === 'chunk-size') {
        out.push(piece)
        const size = Number.parseInt(piece.toString('latin1').split(';')[0]!.trim(), 16)
        if (Number.isNaN(size)) this.#mode = 'passthrough'
        else if (size === 0) this.#mode = 'trailer'
        else {
          this.#mode = 'chunk-data'
          this.#remaining = size + 2
        }
      } else {
        // trailer section: ends with an empty line
        out.push(piece)
        if (piece.length === 2) this.#mode = 'head'
      }
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out)
  }

  #head(head: Buffer): Buffer {
    const text = head.toString('latin1')
    const lines = text.split('\r\n')
    const requestLine = lines[0] ?? ''
    let chunked = false
    let length = 0
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon < 0) continue
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      if (name === 'content-length') length = Number.parseInt(value, 10) || 0
      if (name === 'transfer-encoding' && value.toLowerCase().includes('chunked')) chunked = true
    }
    if (chunked) this.#mode = 'chunk-size'
    else if (length > 0) {
      this.#mode = 'body'
      this.#remaining = length
    }
    const match = /^LIST (\S+) (HTTP\/1\.[01])$/.exec(requestLine)
    if (!match) return head
    const target = match[1]!
    const rewritten = `GET ${target}${target.includes('?') ? '&' : '?'}list=true ${match[2]!}`
    return Buffer.concat([Buffer.from(rewritten, 'latin1'), head.subarray(requestLine.length)])
  }
}

/** A socket-like Duplex that feeds rewritten bytes to Node's HTTP server. */
export class RewritingSocket extends Duplex {
  readonly raw: Socket
  readonly #rewriter = new RequestRewriter()

  constructor(raw: Socket) {
    super({ allowHalfOpen: false })
    this.raw = raw
    raw.on('data', (chunk: Buffer) => {
      const out = this.#rewriter.push(chunk)
      if (out.length > 0 && !this.push(out)) raw.pause()
    })
    raw.on('end', () => this.push(null))
    raw.on('error', (err) => this.destroy(err))
    raw.on('close', () => this.destroy())
    raw.on('timeout', () => this.emit('timeout'))
  }

  override _read(): void {
    this.raw.resume()
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.raw.write(chunk, encoding, callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.raw.end(callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.raw.destroy()
    callback(error)
  }

  // The HTTP server calls these on its sockets; delegate to the real one.
  setTimeout(ms: number, callback?: () => void): this {
    this.raw.setTimeout(ms, callback)
    return this
  }
  setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay)
    return this
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.raw.setKeepAlive(enable, delay)
    return this
  }
  get remoteAddress(): string | undefined {
    return this.raw.remoteAddress
  }
  get remotePort(): number | undefined {
    return this.raw.remotePort
  }
  get localAddress(): string | undefined {
    return this.raw.localAddress
  }
  get localPort(): number | undefined {
    return this.raw.localPort
  }
}
