import { CloudEvent } from 'cloudevents'
import t from 'tap'
import { outcomeLine, outcomeText } from '../../cli/outcome.ts'
import { deliveryLine, eventFromJson } from '../../cli/state.ts'
import { replyEvent } from '../../shared/events/reply.ts'

// The line `npm start` prints per outcome, and what `caretaker run` shows:
// notify's words, dry-run or applied as the reply's dryrun attribute says,
// whether the data arrives parsed or as the bytes the mesh forwards.

const request = new CloudEvent({ specversion: '1.0', id: 'r-1', source: '/caretaker/cli/me', type: 'dev.caretaker.backup.verify.requested', data: { set: 'postgresql' } }, false)
const failed = {
  type: 'dev.caretaker.backup.verification.failed',
  subject: 'postgresql',
  data: { set: 'postgresql', format: 'pg-dumpall-gzip', verified: false, failedCheck: 'integrity', checks: [{ check: 'integrity', ok: false, message: 'gzip: truncated', evidence: {}, durationMs: 1 }], durationMs: 3, verifiedAt: '2026-12-05T10:00:00Z' },
}

t.test('a dry run says so, an applied one does not', async (t) => {
  const dry = replyEvent('verify-backup', request, failed, { dryRun: true })
  t.equal(outcomeLine(dry), 'verify-backup: Backup verification FAILED: postgresql (integrity check) (dry-run: nothing was changed)')
  const applied = replyEvent('verify-backup', request, failed, { dryRun: false })
  t.equal(outcomeLine(applied), 'verify-backup: Backup verification FAILED: postgresql (integrity check)')
  t.match(outcomeText(applied), /\n {2}.*gzip: truncated(.|\n)*\(dev\.caretaker\.backup\.verification\.failed, applied, severity critical\)$/)
})

t.test('data as the mesh forwards it: bytes', async (t) => {
  const reply = replyEvent('verify-backup', request, failed, { dryRun: true })
  const bytes = reply.cloneWith({ data: Buffer.from(JSON.stringify(reply.data)) }, false)
  t.equal(outcomeLine(bytes), outcomeLine(reply))
  // What the deliveries file keeps of a reply: its data as JSON, for `-o json`.
  const line = deliveryLine({ trigger: 'caretaker/verify-backup-requests', service: 'verify-backup', event: request, delivered: true, attempts: 1, status: 200, reply: bytes })
  t.match(line.reply, { type: failed.type, dryrun: 'true', data: { set: 'postgresql', failedCheck: 'integrity' } })
  t.equal(outcomeLine(eventFromJson(line.reply!)), outcomeLine(reply))
})
