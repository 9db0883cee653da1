import { crashSuite } from './crash-suite.ts'

// A PostgreSQL role and a requirepass Redis killed at every step boundary,
// and the cases beyond step boundaries (Vault sealed, killed while undoing,
// the sweep, a redelivery during its own rotation).
await crashSuite(['postgres-app', 'redis-requirepass'], true)
