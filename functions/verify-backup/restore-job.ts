import { createHash } from 'node:crypto'
import type { V1Job, V1Pod } from '@kubernetes/client-node'
import type { Artifact } from './artifacts.ts'
import type { BackupSet, RestoreJobConfig } from './config.ts'
import { fail, pass, type FormatVerdict } from './formats/stream.ts'
import { parseDuration } from '../../shared/duration.ts'

/**
 * The PostgreSQL restore test as a Kubernetes Job, for a restore that may
 * outlast a request: it runs in the image of the dump's own PostgreSQL
 * major version (`postgres:<major>`), with the backups claim mounted
 * read-only at the path the function sees, and reports a compact JSON
 * result through its container's termination message, which verify-backup
 * reads back when the Job's completion event arrives.
 *
 * The termination message: the kubelet copies the file named by the
 * container's `terminationMessagePath` into
 * `status.containerStatuses[].state.terminated.message`, at most 4096 bytes
 * per container and 12 KiB per Pod (kubernetes.io, "Determine the Reason for
 * Pod Failure"; kubernetes/kubernetes pkg/kubelet/kuberuntime/
 * kuberuntime_container.go, maxContainerTerminationMessageLength and
 * maxPodTerminationMessageLogLength). The script keeps its result under
 * that: at most 20 databases and 20 queries (the config schema says so),
 * each error line cut to 300 bytes, each value to 40; anything longer is
 * cut at 4096 bytes and then does not parse, which is reported as such.
 */

export const RESTORE_TEST_LABEL = 'caretaker.dev/restore-test'
export const ARTIFACT_LABEL = 'caretaker.dev/artifact'
export const ARTIFACT_PATH_ANNOTATION = 'caretaker.dev/artifact-path'
export const DUMP_VERSION_ANNOTATION = 'caretaker.dev/dump-version'
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log'
export const TERMINATION_MESSAGE_MAX = 4096
/** The postgres image's own user (docker-library/postgres Dockerfile: `useradd -r -g postgres --uid=999`). */
export const POSTGRES_IMAGE_UID = 999
export const RESTORE_CONTAINER = 'restore'
/** The restore's scratch: data directory, socket, logs. */
const WORK_DIR = '/restore'

/** Identity of one version of an artifact: its path, size and modification time. */
export function artifactHash(artifact: Pick<Artifact, 'path' | 'size' | 'modified'>): string {
  return createHash('sha256').update(`${artifact.path}\0${artifact.size}\0${artifact.modified.toISOString()}`).digest('hex').slice(0, 16)
}

/** The restore-test label's value for a set: at most 63 characters, alphanumeric at both ends. */
export function restoreSetLabel(name: string): string {
  return name.slice(0, 63).replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'set'
}

/**
 * The Job's name, the same for the same set and artifact: a redelivered
 * event creates it once (the second create is a 409). A DNS label (the Job
 * controller puts it in the Pods' `job-name` label, at most 63 characters).
 */
export function restoreJobName(set: string, hash: string): string {
  const base = set.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63 - 'restore--'.length - hash.length).replace(/-+$/, '')
  return `restore-${base || 'set'}-${hash}`
}

/** The image for a major version: `{major}` in the template replaced. */
export function restoreImage(template: string, major: string): string {
  return template.replaceAll('{major}', major)
}

/**
 * The restore script, run by `sh -c` in the postgres image: initdb, a
 * server on a unix socket only, the dump through gunzip into psql with
 * ON_ERROR_STOP, the required databases, the sanity queries (read-only),
 * and the result as JSON in the termination message. Inputs come as
 * environment variables, never spliced into the script.
 */
export const RESTORE_SCRIPT = String.raw`set -u
W=$WORK
export PGDATA=$W/data PGHOST=$W/run PGUSER=caretaker_restore PGDATABASE=postgres LC_ALL=C
started=$(date +%s)
# JSON string body: backslashes and quotes escaped, control characters dropped, cut short.
esc() { printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | cut -c "1-$2"; }
report() { printf '%s' "$1" | head -c ${TERMINATION_MESSAGE_MAX} > "$TERMINATION_LOG"; }
failed() { report "{\"v\":1,\"ok\":false,\"stage\":\"$1\",\"error\":\"$(esc "$2" 300)\",\"restoreSeconds\":$(( $(date +%s) - started ))}"; exit 1; }
first_error() { grep -m1 -E '(ERROR|FATAL|PANIC):' "$1" || head -n1 "$1"; }
mkdir -p "$PGHOST" || failed setup "cannot create $PGHOST"
[ -r "$DUMP" ] || failed setup "the dump $DUMP cannot be read in the Job (is the backups claim mounted at the same path?)"
initdb -D "$PGDATA" -U "$PGUSER" --auth=trust -E UTF8 --locale=C > "$W/initdb.log" 2>&1 || failed initdb "$(first_error "$W/initdb.log")"
pg_ctl -D "$PGDATA" -w -t 120 -l "$W/server.log" -o "-c listen_addresses= -k $PGHOST -c fsync=off -c full_page_writes=off" start > /dev/null 2>&1 || failed start "$(first_error "$W/server.log")"
gunzip -c "$DUMP" 2> "$W/gunzip.err" | PGOPTIONS='-c client_min_messages=error' psql -X -q -v ON_ERROR_STOP=1 > /dev/null 2> "$W/psql.err"
status=$?
# psql's error first: when it stops (ON_ERROR_STOP), gunzip's broken pipe says nothing more.
[ "$status" -eq 0 ] || failed restore "$(first_error "$W/psql.err")"
[ -s "$W/gunzip.err" ] && failed restore "gunzip: $(head -n1 "$W/gunzip.err")"
restored=$(( $(date +%s) - started ))
missing=""
for db in $REQUIRED_DATABASES; do
  found=$(psql -X -A -t -c "select 1 from pg_database where datname = '$(printf '%s' "$db" | sed "s/'/''/g")'" 2>&1) || failed databases "$found"
  [ "$found" = 1 ] || missing="$missing,\"$(esc "$db" 63)\""
done
[ -z "$missing" ] || { report "{\"v\":1,\"ok\":false,\"stage\":\"databases\",\"missing\":[${"$"}{missing#,}],\"restoreSeconds\":$restored}"; exit 1; }
values=""
i=0
while [ "$i" -lt "$QUERY_COUNT" ]; do
  eval "db=\$QUERY_${"$"}{i}_DATABASE sql=\$QUERY_${"$"}{i}_SQL"
  out=$(PGOPTIONS='-c default_transaction_read_only=on' psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$sql" 2>&1) || failed "query $i" "$out"
  value=$(printf '%s\n' "$out" | head -n1 | cut -d'|' -f1)
  values="$values,\"$(esc "$value" 40)\""
  i=$((i + 1))
done
report "{\"v\":1,\"ok\":true,\"stage\":\"done\",\"values\":[${"$"}{values#,}],\"restoreSeconds\":$restored}"
pg_ctl -D "$PGDATA" -m immediate stop > /dev/null 2>&1
exit 0
`

export interface RestoreJobInput {
  readonly set: BackupSet
  readonly artifact: Pick<Artifact, 'path' | 'size' | 'modified' | 'name'>
  /** The dump's server version and major, from its header. */
  readonly version: { server: string; major: string }
  readonly config: RestoreJobConfig
  /** Where the Job runs (the config's, or the function's own namespace). */
  readonly namespace: string
}

/** The restore Job for one artifact of one set. Pure: the same input gives the same Job. */
export function restoreJob(input: RestoreJobInput): V1Job {
  const { set, artifact, version, config, namespace } = input
  const test = set.restore!
  const hash = artifactHash(artifact)
  const name = restoreJobName(set.name, hash)
  const labels = { 'app.kubernetes.io/part-of': 'caretaker', 'app.kubernetes.io/component': 'restore-test', [RESTORE_TEST_LABEL]: restoreSetLabel(set.name), [ARTIFACT_LABEL]: hash }
  const timeoutSeconds = Math.ceil((parseDuration(test.timeout) ?? 15 * 60_000) / 1000)
  const env = [
    { name: 'DUMP', value: artifact.path },
    { name: 'WORK', value: WORK_DIR },
    { name: 'TERMINATION_LOG', value: TERMINATION_MESSAGE_PATH },
    { name: 'REQUIRED_DATABASES', value: test.databases.join(' ') },
    { name: 'QUERY_COUNT', value: String(test.queries.length) },
    ...test.queries.flatMap((q, i) => [{ name: `QUERY_${i}_DATABASE`, value: q.database }, { name: `QUERY_${i}_SQL`, value: q.sql }]),
  ]
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace,
      labels,
      annotations: { [ARTIFACT_PATH_ANNOTATION]: artifact.path, [DUMP_VERSION_ANNOTATION]: version.server },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: timeoutSeconds,
      ttlSecondsAfterFinished: config.ttlSecondsAfterFinished,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true, runAsUser: POSTGRES_IMAGE_UID, runAsGroup: POSTGRES_IMAGE_UID, fsGroup: POSTGRES_IMAGE_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [{
            name: RESTORE_CONTAINER,
            image: restoreImage(config.image, version.major),
            imagePullPolicy: 'IfNotPresent',
            command: ['/bin/sh', '-c', RESTORE_SCRIPT],
            env,
            resources: config.resources,
            terminationMessagePath: TERMINATION_MESSAGE_PATH,
            terminationMessagePolicy: 'File',
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            volumeMounts: [
              { name: 'backups', mountPath: config.backups.mountPath, readOnly: true },
              { name: 'work', mountPath: WORK_DIR },
            ],
          }],
          volumes: [
            { name: 'backups', persistentVolumeClaim: { claimName: config.backups.claimName, readOnly: true } },
            { name: 'work', emptyDir: { sizeLimit: config.scratchSizeLimit } },
          ],
        },
      },
    },
  }
}

/** What the restore script reports (version 1). */
export interface RestoreJobResult {
  readonly v: 1
  readonly ok: boolean
  readonly stage: string
  readonly error?: string
  readonly missing?: string[]
  readonly values?: string[]
  readonly restoreSeconds?: number
}

/** The result in a termination message, or why there is none. */
export function parseRestoreResult(message: string | undefined): { result: RestoreJobResult } | { problem: string } {
  if (!message || message.trim() === '') return { problem: 'the restore container left no result (its termination message is empty)' }
  let parsed: unknown
  try {
    parsed = JSON.parse(message)
  } catch {
    return { problem: message.length >= TERMINATION_MESSAGE_MAX ? `the result was cut at ${TERMINATION_MESSAGE_MAX} bytes (the termination message's limit) and cannot be read` : 'the result is not JSON' }
  }
  const r = parsed as Partial<RestoreJobResult>
  if (typeof parsed !== 'object' || parsed === null || r.v !== 1 || typeof r.ok !== 'boolean' || typeof r.stage !== 'string') return { problem: 'the result is not a version 1 restore result' }
  return { result: r as RestoreJobResult }
}

/** The restore container's termination message in a Job's Pod. */
export function terminationMessage(pod: V1Pod): string | undefined {
  const status = pod.status?.containerStatuses?.find((c) => c.name === RESTORE_CONTAINER)
  return status?.state?.terminated?.message ?? status?.lastState?.terminated?.message
}

/**
 * The restore check's verdict from a finished Job and its Pod: the result
 * the script reported, judged against the set (each query's minimum), or,
 * when the Job failed without one (deadline, OOM, image pull), its reason.
 */
export function restoreVerdict(set: BackupSet, job: V1Job, pod: V1Pod | undefined): FormatVerdict {
  const test = set.restore!
  const jobName = job.metadata?.name ?? ''
  const image = job.spec?.template.spec?.containers[0]?.image ?? null
  const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')
  const parsed = pod ? parseRestoreResult(terminationMessage(pod)) : { problem: 'the Job has no Pod' }
  const base = { job: jobName, image }
  if ('problem' in parsed) {
    const waiting = pod?.status?.containerStatuses?.find((c) => c.name === RESTORE_CONTAINER)?.state?.waiting
    const podReason = waiting?.reason ? `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` : pod?.status?.reason ? `${pod.status.reason}${pod.status.message ? `: ${pod.status.message}` : ''}` : undefined
    const terminated = pod?.status?.containerStatuses?.find((c) => c.name === RESTORE_CONTAINER)?.state?.terminated
    // A kubelet retries an image it cannot pull until the Job's deadline, and the Job controller then deletes the Pod.
    const hint = failed?.reason === 'DeadlineExceeded' && !podReason && !terminated
      ? ` (the restore outlasted restore.timeout, or its Pod never ran: is ${image ?? 'the image'} pullable from the cluster?)`
      : ''
    const why = failed
      ? `the restore Job ${jobName} failed (${failed.reason ?? 'no reason'}${failed.message ? `: ${failed.message}` : ''})${podReason ? `; ${podReason}` : terminated?.reason ? `; container ${terminated.reason}` : hint}`
      : `the restore Job ${jobName} finished without a result: ${parsed.problem}`
    return fail(why, { ...base, reason: failed?.reason ?? null, podReason: podReason ?? terminated?.reason ?? null, problem: parsed.problem })
  }
  const r = parsed.result
  const evidence = { ...base, stage: r.stage, restoreSeconds: r.restoreSeconds ?? null }
  if (!r.ok) {
    if (r.stage === 'databases') return fail(`restored, but database(s) ${(r.missing ?? []).join(', ')} are missing`, { ...evidence, missing: r.missing ?? [] })
    if (r.stage === 'restore') return fail(`the dump does not restore: ${r.error ?? 'no error line'}`, { ...evidence, firstError: r.error ?? null })
    if (r.stage.startsWith('query ')) {
      const q = test.queries[Number(r.stage.slice(6))]
      return fail(`sanity query in ${q?.database ?? '?'} failed: ${r.error ?? ''}`, { ...evidence, database: q?.database ?? null, sql: q?.sql ?? null, error: r.error ?? null })
    }
    return fail(`the restore test could not run (${r.stage}): ${r.error ?? ''}`, { ...evidence, error: r.error ?? null })
  }
  const values = r.values ?? []
  if (values.length !== test.queries.length) return fail(`the restore Job reported ${values.length} query result(s) for ${test.queries.length} queries`, evidence)
  const queries = test.queries.map((q, i) => {
    const raw = values[i]!
    const value = raw.trim() === '' ? null : Number(raw)
    return { database: q.database, sql: q.sql, value: value === null || Number.isNaN(value) ? null : value, min: q.min, ok: value !== null && !Number.isNaN(value) && value >= q.min }
  })
  const bad = queries.find((q) => !q.ok)
  if (bad) return fail(`sanity query in ${bad.database} returned ${bad.value}, below the minimum ${bad.min}: ${bad.sql}`, { ...evidence, queries })
  return pass(`restored by Job ${jobName} in ${image} in ${r.restoreSeconds ?? '?'} s; ${test.databases.length} database(s) present, ${queries.length} sanity quer${queries.length === 1 ? 'y' : 'ies'} passed`, {
    ...evidence, databases: test.databases, queries,
  })
}
