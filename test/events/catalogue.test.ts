import t from 'tap'
import { catalogue, EventTypes, isEvent, type EventData, type EventType } from '../../shared/events/catalogue.ts'
import { EventDataValidator } from '../../shared/events/validation.ts'
import { pingField } from '../../shared/events/types/knative.ts'

// Each event type is defined once, in the catalogue: its name as a typed
// constant, its data type derived from its schema.

t.test('every catalogue type has its constant, and every constant is a catalogue type', async (t) => {
  t.same(new Set(Object.values(EventTypes)), new Set(catalogue.keys()))
  t.equal(Object.keys(EventTypes).length, catalogue.size, 'one name per type')
  t.equal(EventTypes.BackupVerified, 'dev.caretaker.backup.verified', 'the wire value')
  t.equal(EventTypes.Ping, 'dev.knative.sources.ping')
  t.ok(Object.isFrozen(EventTypes))
})

t.test('isEvent narrows to the data its schema describes', async (t) => {
  const event: { type: string; data?: unknown } = { type: EventTypes.SnapshotsPruneRequested, data: { policy: 'daily' } }
  if (isEvent(event, EventTypes.SnapshotsPruneRequested)) {
    const policy: string | undefined = event.data.policy
    t.equal(policy, 'daily')
  } else t.fail('not recognised')
  t.notOk(isEvent(event, EventTypes.ResourcesCleanRequested))
  t.ok(isEvent(event, EventTypes.ResourcesCleanRequested, EventTypes.SnapshotsPruneRequested), 'any of several types')
})

t.test('the derived data types accept what the schemas accept', async (t) => {
  // Type-level: these compile only while the derived types match the schemas.
  const request: EventData<'dev.caretaker.backup.verify.requested'> = { set: 'postgresql' }
  const degraded: EventData<typeof EventTypes.DatabaseDegraded> = {
    target: 'postgres', status: 'warning',
    findings: [{ task: 'health', check: 'connections', severity: 'warning', message: 'near the limit', evidence: {} }],
  }
  // @ts-expect-error: severity is one of the schema's enum
  const wrong: EventData<typeof EventTypes.DatabaseDegraded> = { target: 'postgres', status: 'bad', findings: [] }
  // @ts-expect-error: a required field is missing
  const missing: EventData<typeof EventTypes.SecretRotateRequested> = { reason: 'leaked' }
  const validator = new EventDataValidator([EventTypes.BackupVerifyRequested, EventTypes.DatabaseDegraded] satisfies EventType[], catalogue)
  t.doesNotThrow(() => validator.check(EventTypes.BackupVerifyRequested, request))
  t.doesNotThrow(() => validator.check(EventTypes.DatabaseDegraded, degraded))
  t.throws(() => validator.check(EventTypes.DatabaseDegraded, wrong), { code: 'invalid_event_data' })
  t.ok(missing)
})

t.test('a PingSource tick\'s data is read field by field, whatever it is', async (t) => {
  t.equal(pingField({ report: 'weekly' }, 'report'), 'weekly')
  for (const data of [undefined, null, 'weekly', ['weekly'], 7, {}]) t.equal(pingField(data, 'report'), undefined, JSON.stringify(data))
})
