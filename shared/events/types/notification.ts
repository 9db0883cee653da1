import type { EventTypeDefinition } from '../catalogue.ts'

/** notify: what it delivered (or, dry-run, would deliver) for one outcome event. */

export const notificationEvents = {
  NotificationSent: {
    type: 'dev.caretaker.notification.sent',
    direction: 'outbound',
    description: 'notify handled an outcome event: each matching channel\'s delivery (sent, collapsed, rate-limited, not configured, or the rendered message in a dry-run)',
    schema: {
      type: 'object',
      required: ['event', 'severity', 'deliveries'],
      properties: {
        event: {
          type: 'object',
          required: ['id', 'type', 'source'],
          properties: { id: { type: 'string' }, type: { type: 'string' }, source: { type: 'string' }, subject: { type: 'string' } },
        },
        severity: { enum: ['info', 'warning', 'critical'] },
        title: { type: 'string' },
        deliveries: {
          type: 'array',
          items: {
            type: 'object',
            required: ['channel', 'kind', 'status'],
            properties: {
              channel: { type: 'string' },
              kind: { enum: ['mattermost', 'slack', 'webhook', 'email', 'log'] },
              status: { enum: ['sent', 'collapsed', 'rate-limited', 'not-configured', 'dry-run', 'already-sent'] },
              attempts: { type: 'integer', minimum: 0 },
              repeats: { type: 'integer', minimum: 0 },
              rendered: { type: 'object' },
            },
          },
        },
      },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const notificationTypes: EventTypeDefinition[] = Object.values(notificationEvents)
