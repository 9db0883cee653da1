import { mkdirSync, rmSync } from 'node:fs'
import { RBAC_USAGE_DIR } from '../../sandbox/simulators/kubernetes/rbac-usage.ts'

// Runs once before the test files (tap's `before`): a fresh record of the
// permissions this run uses.
rmSync(RBAC_USAGE_DIR, { recursive: true, force: true })
mkdirSync(RBAC_USAGE_DIR, { recursive: true })
