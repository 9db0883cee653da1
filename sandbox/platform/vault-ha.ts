import { startVaultSimulator, type VaultSimulator } from '../simulators/vault/index.ts'

/**
 * The demo platform's Vault as an HA cluster of two (integrated storage):
 * `active`, the Vault every function uses, holds the HA lock; a second
 * node, its standby, is sealed (as after a restart nobody unsealed), so it
 * could not take over. health-report's vault check, given both as members
 * and one standby expected, finds MemberSealed and TooFewStandbys.
 */
export async function startDemoVaultStandby(active: VaultSimulator): Promise<VaultSimulator> {
  active.setHa({ enabled: true, role: 'active' })
  const standby = await startVaultSimulator({ sealed: true })
  standby.setHa({ enabled: true, role: 'standby', leaderAddress: active.url })
  return standby
}
