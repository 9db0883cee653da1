import { randomBytes, randomInt } from 'node:crypto'
import { SecretValue } from '../../shared/logger.ts'
import { ALPHABETS, type GenerationRule } from './config.ts'

/**
 * A new secret value from the policy's rule, cryptographically random:
 * `length` characters drawn uniformly (no modulo bias) from the alphabet,
 * or `bytes` random bytes in the given encoding. Wrapped so it never prints.
 */
export function generateValue(rule: GenerationRule): SecretValue {
  if (rule.bytes !== undefined) return new SecretValue(randomBytes(rule.bytes).toString(rule.encoding ?? 'base64'))
  const alphabet = [...new Set(ALPHABETS[rule.alphabet ?? 'alphanumeric'] ?? rule.alphabet ?? '')]
  const length = rule.length ?? 32
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)]
  return new SecretValue(out)
}

/** What the rule makes, in words, for the dry-run plan. */
export function describeRule(rule: GenerationRule): string {
  if (rule.bytes !== undefined) return `${rule.bytes} random bytes as ${rule.encoding ?? 'base64'}`
  const name = rule.alphabet ?? 'alphanumeric'
  return `${rule.length ?? 32} random characters from ${ALPHABETS[name] ? `the ${name} alphabet` : `a ${new Set(name).size}-character alphabet`}`
}
