import { makeCertificate } from './certs.ts'
import { DAY, iso, type Ctx, type Obj, type SeedOptions, type SeedSummary } from './seed/context.ts'
import { seedCaretaker, seedClusterScoped, seedNamespaces, seedNodes } from './seed/cluster.ts'
import { seedVault } from './seed/secrets.ts'
import { seedGitea, seedProduction } from './seed/applications.ts'
import { seedDatabases, seedVaultNamespace } from './seed/databases.ts'
import { seedKubeSystem, seedMonitoring } from './seed/platform-services.ts'
import { seedLonghorn } from './seed/longhorn.ts'
import { seedClusterHealth } from './seed/cluster-health.ts'

/**
 * The sandbox's demo platform: a small but realistic cluster seeded into the
 * Kubernetes and Vault simulators. Applications in `production` read their
 * credentials from Secrets that ExternalSecrets sync from Vault; databases run
 * in `databases`; every backup set of functions.md has its CronJob and recent
 * Jobs; cert-manager Certificates are in every state renew-certificate cares
 * about; snapshots and Longhorn backups span ages on both sides of retention;
 * Vault secrets carry their rotation time and interval, some of them due.
 *
 * Everything goes through the simulator's store (`store.seed`), so every
 * object passes its kind's schema. One function per namespace, in `seed/`.
 */

export async function seedSandbox(options: SeedOptions): Promise<SeedSummary> {
  const now = options.now ?? new Date()
  const summary: SeedSummary = { now: iso(now), namespaces: [], counts: {}, objects: [], vaultSecrets: [], externalSecrets: [], certificates: [], backupJobs: [], snapshots: [] }
  const ctx: Ctx = {
    now,
    ago: (ms) => new Date(now.getTime() - ms),
    at: (ms) => new Date(now.getTime() + ms),
    put(obj) {
      const created = options.kube.store.seed(obj)
      const m = created.metadata as { name: string, namespace?: string }
      const key = `${String(created.apiVersion)} ${String(created.kind)}`
      summary.counts[key] = (summary.counts[key] ?? 0) + 1
      summary.objects.push({ apiVersion: String(created.apiVersion), kind: String(created.kind), ...(m.namespace ? { namespace: m.namespace } : {}), name: m.name })
      if (created.kind === 'Namespace') summary.namespaces.push(m.name)
      return created
    },
    uid: (obj) => String((obj.metadata as Obj).uid),
    ownerRef: (owner, controller = true) => ({ apiVersion: owner.apiVersion, kind: owner.kind, name: (owner.metadata as Obj).name, uid: (owner.metadata as Obj).uid, controller, blockOwnerDeletion: true }),
    summary,
    vault: options.vault,
    vaultData: new Map(),
    ca: makeCertificate({ commonName: 'Caretaker Sandbox Internal CA', isCA: true, notBefore: new Date(now.getTime() - 400 * DAY), notAfter: new Date(now.getTime() + 3250 * DAY) }),
  }

  seedNamespaces(ctx)
  seedNodes(ctx)
  seedVault(ctx)
  seedClusterScoped(ctx)
  seedCaretaker(ctx)
  seedProduction(ctx)
  seedDatabases(ctx)
  seedVaultNamespace(ctx)
  seedGitea(ctx)
  seedKubeSystem(ctx)
  seedMonitoring(ctx)
  seedLonghorn(ctx)
  seedClusterHealth(ctx, options.kube)
  return summary
}
