// Unique names per test, so tests sharing one Redis never see each other's keys.
import { randomBytes } from 'node:crypto';

export function uniqueQueueName(prefix = 'test'): string {
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40);
  return `${safe}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
