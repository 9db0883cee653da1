import t from 'tap'
import { recoveryState } from '../../../functions/rotate-secret/recover.ts'

// The pure decision of a recovery (functions/rotate-secret/recover.ts): where a
// cut-off rotation stands from its journal and Vault's secret now.

const journal = { next: { password: 'new' }, previous: { password: 'old', username: 'app' }, state: { trigger: 'request', startedAt: '2026-01-01T00:00:00Z', holder: 'h', previousVersion: 4, previousMetadata: {} } }
const keys = ['password']

t.equal(recoveryState(journal, { data: { password: 'new', username: 'app' }, version: 5 }, keys), 'written', 'Vault holds the new value')
t.equal(recoveryState(journal, { data: { password: 'old', username: 'app' }, version: 4 }, keys), 'untouched', 'the previous value at the version read: the target decides')
t.equal(recoveryState(journal, { data: { password: 'old', username: 'app' }, version: 6 }, keys), 'restored', 'the previous value at a later version: written, then put back')
t.equal(recoveryState(journal, { data: { password: 'third', username: 'app' }, version: 7 }, keys), 'foreign', 'a value someone else wrote')
t.equal(recoveryState({ ...journal, next: { a: '1', b: '2' }, previous: { a: '0', b: '0' } }, { data: { a: '1', b: '0' }, version: 5 }, ['a', 'b']), 'foreign', 'every key counts: half the new value is neither')
