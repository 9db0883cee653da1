import type { Finding, VaultHealth } from '../findings.ts'

/**
 * The vault check's HA part: who leads, and how many standbys are ready to
 * take over. Pure: the caller reads the endpoints.
 *
 * - `GET /v1/sys/leader` needs no token (Vault's OpenAPI marks it
 *   `x-vault-unauthenticated`; hashicorp/vault http/sys_leader.go answers it
 *   before unsealing): `ha_enabled`, `is_self`, `leader_address`. A sealed
 *   node answers 500 `Vault is sealed` (vault/ha.go, Core.Leader returns
 *   ErrSealed). `GET /v1/sys/ha-status` would list the peers, but it needs a
 *   token, and health-report holds no Vault credential.
 * - So standbys are counted from each configured member's own
 *   unauthenticated `sys/health`: 429 standby, 473 performance standby,
 *   200 active, 503 sealed (website/content/api-docs/system/health.mdx).
 */

export type VaultLeader =
  | { reachable: true; status: number; haEnabled?: boolean; isSelf?: boolean; leaderAddress?: string; errors?: string[] }
  | { reachable: false; error: string }

export interface VaultMember { address: string; health: VaultHealth }

export function vaultHaFindings(address: string, leader: VaultLeader, members: readonly VaultMember[], minStandbys: number): Finding[] {
  const out: Finding[] = []
  const object = { kind: 'Vault', name: address }
  if (!leader.reachable) {
    out.push({ check: 'vault', severity: 'warning', object, reason: 'LeaderUnknown', message: `sys/leader could not be read: ${leader.error}` })
  } else if (leader.status === 200) {
    if (leader.haEnabled === false) {
      if (minStandbys > 0) out.push({ check: 'vault', severity: 'warning', object, reason: 'HaNotEnabled', message: `Vault runs without HA, but ${minStandbys} standby(s) are expected` })
    } else if (!leader.isSelf && !leader.leaderAddress) {
      out.push({ check: 'vault', severity: 'critical', object, reason: 'NoLeader', message: 'sys/leader names no active node: no Vault node holds the HA lock, so requests fail' })
    }
  } else if (!(leader.errors ?? []).some((e) => /sealed/i.test(e))) {
    // Sealed is the health part's finding already; anything else is news.
    out.push({ check: 'vault', severity: 'warning', object, reason: 'LeaderUnknown', message: `sys/leader answered HTTP ${leader.status}${leader.errors?.length ? `: ${leader.errors.join('; ')}` : ''}` })
  }
  if (members.length === 0) return out
  let standbys = 0
  let active = 0
  for (const m of members) {
    const h = m.health
    const member = { kind: 'VaultMember', name: m.address }
    if (!h.reachable) { out.push({ check: 'vault', severity: 'warning', object: member, reason: 'MemberUnreachable', message: `sys/health could not be read: ${h.error}` }); continue }
    if (h.status === 429 || h.status === 473) standbys++
    else if (h.status === 200) active++
    else if (h.status === 503 || h.sealed === true) out.push({ check: 'vault', severity: 'warning', object: member, reason: 'MemberSealed', message: 'this Vault node is sealed: it cannot take over; unseal it (a human step)' })
    else if (h.status === 501) out.push({ check: 'vault', severity: 'warning', object: member, reason: 'MemberNotInitialized', message: 'this Vault node is not initialized (not joined to the cluster?)' })
    else out.push({ check: 'vault', severity: 'warning', object: member, reason: 'MemberUnhealthy', message: `sys/health answered HTTP ${h.status}` })
  }
  if (active > 1) out.push({ check: 'vault', severity: 'critical', object, reason: 'SeveralActive', message: `${active} members answer as the active node` })
  if (standbys < minStandbys) {
    out.push({ check: 'vault', severity: standbys === 0 ? 'critical' : 'warning', object, reason: 'TooFewStandbys', message: `${standbys} of ${members.length} members are standbys, fewer than the ${minStandbys} configured: losing the active node ${standbys === 0 ? 'stops' : 'risks'} Vault` })
  }
  return out
}
