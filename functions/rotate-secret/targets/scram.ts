import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password, computed
 * here (as psql's \password does), so ALTER ROLE never carries the password
 * itself and the server can never log it. Generated passwords are ASCII, so
 * SASLprep leaves them unchanged.
 */
export function scramSha256Verifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}
