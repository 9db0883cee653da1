/**
 * CRC-64/Jones as Redis computes it for RDB files (reflected polynomial
 * 0x95ac9329ac4bc9b5, i.e. 0xad93d23594c935a9 bit-reversed, init 0, no final
 * xor). No maintained npm package implements this variant, so it is here:
 * a byte-wise table over two 32-bit halves, fast without BigInt in the loop.
 */

const POLY_HI = 0x95ac9329
const POLY_LO = 0xac4bc9b5

const TABLE_HI = new Uint32Array(256)
const TABLE_LO = new Uint32Array(256)
for (let n = 0; n < 256; n++) {
  let hi = 0
  let lo = n
  for (let k = 0; k < 8; k++) {
    const carry = lo & 1
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0
    hi = hi >>> 1
    if (carry) {
      hi = (hi ^ POLY_HI) >>> 0
      lo = (lo ^ POLY_LO) >>> 0
    }
  }
  TABLE_HI[n] = hi
  TABLE_LO[n] = lo
}

export class Crc64Jones {
  #hi = 0
  #lo = 0

  update(chunk: Uint8Array): this {
    let hi = this.#hi
    let lo = this.#lo
    for (let i = 0; i < chunk.length; i++) {
      const idx = (lo ^ chunk[i]!) & 0xff
      lo = (TABLE_LO[idx]! ^ ((lo >>> 8) | (hi << 24))) >>> 0
      hi = (TABLE_HI[idx]! ^ (hi >>> 8)) >>> 0
    }
    this.#hi = hi
    this.#lo = lo
    return this
  }

  /** The CRC as 8 little-endian bytes, the order Redis writes it in. */
  digestLE(): Buffer {
    const out = Buffer.alloc(8)
    out.writeUInt32LE(this.#lo, 0)
    out.writeUInt32LE(this.#hi, 4)
    return out
  }

  hex(): string {
    return this.#hi.toString(16).padStart(8, '0') + this.#lo.toString(16).padStart(8, '0')
  }
}
