import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLogger } from '../../shared/logger.ts'
import { projectRoot } from '../../sandbox/local/functions.ts'
import { startLocalPlatform, type LocalPlatform } from '../../sandbox/local/platform.ts'
import { startReceiver, type Receiver } from '../mesh/receiver.ts'

/**
 * npm start in-process for the console's tests: the sandbox with two of the
 * shipped functions (prune-snapshots answers a request with a dry-run plan;
 * verify-backup's config names the demo backup sets), a PingSource for a
 * schedule, and a Trigger to a subscriber that refuses until told to take,
 * so that a dead letter appears and its redelivery can succeed.
 */

export const FLAKY_TYPE = 'dev.caretaker.test.console.flaky'

export interface ConsolePlatform {
  readonly platform: LocalPlatform
  readonly receiver: Receiver
  /** The subscriber takes what it refused so far. */
  fix(): void
  /** Sends an event of FLAKY_TYPE to the Broker; it is dead-lettered until fix(). */
  sendFlaky(id: string): Promise<number>
  close(): Promise<void>
}

export async function startConsolePlatform(dir: string): Promise<ConsolePlatform> {
  let fixed = false
  const receiver = await startReceiver(() => fixed
    ? { status: 200 }
    : { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'invalid_event_data', message: 'not today' }) })
  const functions = join(dir, 'functions')
  const triggers = join(dir, 'triggers')
  await mkdir(functions, { recursive: true })
  await mkdir(triggers, { recursive: true })
  for (const name of ['prune-snapshots', 'verify-backup']) await symlink(join(projectRoot, 'functions', name), join(functions, name))
  await writeFile(join(triggers, 'mesh.yaml'), `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: caretaker, namespace: caretaker }
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: prune-snapshots-daily, namespace: caretaker }
spec:
  schedule: "0 4 * * *"
  timezone: Etc/UTC
  contentType: application/json
  data: '{}'
  sink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: caretaker } }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: prune-snapshots-daily, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: dev.knative.sources.ping, source: /apis/v1/namespaces/caretaker/pingsources/prune-snapshots-daily } }
  subscriber: { ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: prune-snapshots } }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: prune-snapshots-requests, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: dev.caretaker.snapshots.prune.requested } }
  subscriber: { ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: prune-snapshots } }
  delivery: { retry: 0 }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: flaky, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: ${FLAKY_TYPE} } }
  subscriber: { uri: ${receiver.url}/flaky }
  delivery: { retry: 0 }
`)
  const platform = await startLocalPlatform({
    functionsDir: functions,
    triggersDir: triggers,
    manifestsDir: join(projectRoot, 'manifests'),
    stateDir: join(dir, 'state'),
    port: 0, kubePort: 0, vaultPort: 0,
    sandbox: 'always',
    consolePort: 0,
    env: { HOME: dir },
    logger: createLogger({ level: 'silent' }),
  })
  return {
    platform,
    receiver,
    fix: () => { fixed = true },
    sendFlaky: async (id) => (await fetch(platform.brokerUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/test/console', 'ce-type': FLAKY_TYPE },
      body: '{"n":1}',
    })).status,
    close: async () => {
      await platform.close()
      await receiver.close()
    },
  }
}
