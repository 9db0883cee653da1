import { crashSuite } from './crash-suite.ts'

// A Keycloak client's secret killed at every step boundary.
await crashSuite(['keycloak-app'], false)
