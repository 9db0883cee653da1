import { inflateSync } from 'node:zlib'

/**
 * Just enough of PNG (ISO/IEC 15948) to check a screenshot: 8-bit
 * truecolour or greyscale, with or without alpha, not interlaced, as
 * Chromium's screenshots are. Anything else is refused, never misread.
 */

export interface Image {
  readonly width: number
  readonly height: number
  /** RGBA, 4 bytes a pixel, row after row. */
  readonly rgba: Buffer
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 4: 2, 6: 4 }

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c
  const pa = Math.abs(p - a)
  const pb = Math.abs(p - b)
  const pc = Math.abs(p - c)
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

export function decodePng(png: Buffer): Image {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG: wrong signature')
  let offset = 8
  let width = 0
  let height = 0
  let channels = 0
  const idat: Buffer[] = []
  for (;;) {
    if (offset + 8 > png.length) throw new Error('PNG ends without IEND')
    const length = png.readUInt32BE(offset)
    const type = png.toString('latin1', offset + 4, offset + 8)
    const data = png.subarray(offset + 8, offset + 8 + length)
    offset += 12 + length
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      const depth = data[8]!
      const colour = data[9]!
      if (depth !== 8 || CHANNELS[colour] === undefined || data[12] !== 0) throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${data[12]}`)
      channels = CHANNELS[colour]!
    } else if (type === 'IDAT') idat.push(data)
    else if (type === 'IEND') break
  }
  if (!width || !height || !channels) throw new Error('PNG without IHDR')
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  if (raw.length !== height * (stride + 1)) throw new Error(`PNG data is ${raw.length} bytes, not ${height * (stride + 1)}`)
  const out = Buffer.alloc(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[y * stride + x - channels]! : 0
      const b = y > 0 ? out[(y - 1) * stride + x]! : 0
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels]! : 0
      const v = line[x]!
      const predicted = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : filter === 4 ? paeth(a, b, c) : NaN
      if (Number.isNaN(predicted)) throw new Error(`PNG row ${y} has filter type ${filter}`)
      out[y * stride + x] = (v + predicted) & 0xff
    }
  }
  const rgba = Buffer.alloc(width * height * 4)
  for (let i = 0; i < width * height; i++) {
    const p = out.subarray(i * channels, (i + 1) * channels)
    if (channels <= 2) rgba.set([p[0]!, p[0]!, p[0]!, channels === 2 ? p[1]! : 255], i * 4)
    else rgba.set([p[0]!, p[1]!, p[2]!, channels === 4 ? p[3]! : 255], i * 4)
  }
  return { width, height, rgba }
}

/** How many different colours the image has (a blank one has one). */
export function distinctColours(image: Image): number {
  const seen = new Set<number>()
  for (let i = 0; i < image.rgba.length; i += 4) seen.add(image.rgba.readUInt32BE(i))
  return seen.size
}

/** How many pixels are within `tolerance` (per channel) of the colour `#rrggbb`. */
export function pixelsNear(image: Image, hex: string, tolerance = 24): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number]
  let n = 0
  for (let i = 0; i < image.rgba.length; i += 4) {
    if (Math.abs(image.rgba[i]! - r) <= tolerance && Math.abs(image.rgba[i + 1]! - g) <= tolerance && Math.abs(image.rgba[i + 2]! - b) <= tolerance) n++
  }
  return n
}
