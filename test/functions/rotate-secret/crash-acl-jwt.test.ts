import { crashSuite } from './crash-suite.ts'

// A Redis ACL user and a generated signing key killed at every step boundary.
await crashSuite(['redis-app', 'api-jwt'], false)
