import { readdir, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { RBAC_USAGE_DIR, type RbacUse } from '../../sandbox/simulators/kubernetes/rbac-usage.ts'

// Runs once after every test file (tap's `after`): the permissions granted
// in manifests/ that no test of this run used. The functions' integration
// tests run under their manifests' exact RBAC, so a missing permission fails
// a test; an unused one is listed here, to be removed or covered by a test.
// A run of some files only lists more: what those files do not touch.

const root = fileURLToPath(new URL('../../', import.meta.url))

interface Permission { role: string, file: string, verb: string, group: string, resource: string, resourceNames?: string[] }

async function manifestPermissions(): Promise<Permission[]> {
  const out: Permission[] = []
  for (const entry of await readdir(join(root, 'manifests'), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue
    const path = join(entry.parentPath, entry.name)
    for (const doc of parseAllDocuments(await readFile(path, 'utf8'))) {
      const obj = doc.toJSON() as { kind?: string, metadata?: { name?: string, namespace?: string }, rules?: Array<{ apiGroups?: string[], resources?: string[], verbs?: string[], resourceNames?: string[] }> } | null
      if (!obj || (obj.kind !== 'Role' && obj.kind !== 'ClusterRole')) continue
      const role = obj.kind === 'Role' ? `Role/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}` : `ClusterRole/${obj.metadata?.name ?? ''}`
      for (const rule of obj.rules ?? []) {
        for (const group of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            for (const verb of rule.verbs ?? []) out.push({ role, file: relative(root, path), verb, group, resource, ...(rule.resourceNames?.length ? { resourceNames: rule.resourceNames } : {}) })
          }
        }
      }
    }
  }
  return out
}

async function usesOfThisRun(): Promise<RbacUse[] | undefined> {
  if (!existsSync(RBAC_USAGE_DIR)) return undefined
  const uses: RbacUse[] = []
  for (const name of await readdir(RBAC_USAGE_DIR)) {
    if (!name.endsWith('.jsonl')) continue
    for (const line of (await readFile(join(RBAC_USAGE_DIR, name), 'utf8')).split('\n')) if (line) uses.push(JSON.parse(line) as RbacUse)
  }
  return uses
}

t.test('RBAC granted in manifests/ that no test exercised', async (t) => {
  const permissions = await manifestPermissions()
  t.ok(permissions.length > 0, `${permissions.length} permissions (role × verb × resource) in manifests/`)
  const uses = await usesOfThisRun()
  if (!uses) {
    t.comment('no record of this run\'s RBAC use (the before script did not run): nothing to report')
    return
  }
  const used = new Set(uses.map((u) => `${u.role}|${u.verb}|${u.group}|${u.resource}`))
  const unused = permissions.filter((p) => !used.has(`${p.role}|${p.verb}|${p.group}|${p.resource}`))
  const exercised = permissions.length - unused.length
  t.comment(`${exercised} of ${permissions.length} granted permissions were exercised by this run's tests`)
  const byRole = new Map<string, Permission[]>()
  for (const p of unused) byRole.set(`${p.role} (${p.file})`, [...byRole.get(`${p.role} (${p.file})`) ?? [], p])
  for (const [role, list] of byRole) {
    t.comment(`not exercised: ${role}: ${list.map((p) => `${p.verb} ${p.group ? `${p.resource}.${p.group}` : p.resource}${p.resourceNames ? ` [${p.resourceNames.join(', ')}]` : ''}`).join(', ')}`)
  }
  t.ok(exercised > 0 || uses.length === 0, 'the record matches the manifests\' role names')
})
