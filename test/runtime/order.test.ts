import t from 'tap'
import { byCodeUnits } from '../../shared/order.ts'

const sign = (n: number): number => Math.sign(n)

t.test('code-unit order, as sort() without a comparator', async (t) => {
  const words = ['b', 'a-1', 'a', 'a.b', 'A', '_x', '10', '9', 'a-b', 'ab', '']
  t.same([...words].sort(byCodeUnits), [...words].sort())
  t.equal(byCodeUnits('x', 'x'), 0)
})

t.test('for Kubernetes names and RFC 3339 timestamps, the order localeCompare gives', async (t) => {
  let seed = 11
  const random = (n: number): number => (seed = (seed * 48271) % 2147483647) % n
  const word = (alphabet: string): string => Array.from({ length: 1 + random(6) }, () => alphabet[random(alphabet.length)]).join('')
  const differing: string[] = []
  // DNS-1123 names: lower-case letters, digits, '-' and '.'; short words over a small alphabet meet often.
  for (let i = 0; i < 5000; i++) {
    const a = word('ab09-.'), b = word('ab09-.')
    if (sign(byCodeUnits(a, b)) !== sign(a.localeCompare(b))) differing.push(`${a} ${b}`)
  }
  const stamp = () => new Date(Date.UTC(2000, 0, 1) + random(2_000_000_000) * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
  for (let i = 0; i < 2000; i++) {
    const a = stamp(), b = stamp()
    if (sign(byCodeUnits(a, b)) !== sign(a.localeCompare(b))) differing.push(`${a} ${b}`)
  }
  t.same(differing, [])
})
