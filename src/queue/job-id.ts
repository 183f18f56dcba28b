// The id a job runs under in the sandbox (cgroup and job directory names): unique on
// this host across queues and attempts, and safe as a path component.
import { createHash } from 'node:crypto';

/**
 * `<queue>-<bullmq id>-a<attempt>-<hash>`, [A-Za-z0-9_-]{1,64}. BullMQ ids restart at 1
 * in every queue (and after an obliterate), so the queue name is part of it; the
 * attempt keeps a retry apart from the leftovers of a crashed first attempt. The
 * readable part is sanitised and cut, so a hash of the exact triple keeps ids that
 * read alike ("a-b"+"c" vs "a"+"b-c") apart.
 */
export function sandboxJobId(queueName: string, bullJobId: string, attempt: number): string {
  const hash = createHash('sha256').update(`${queueName}\0${bullJobId}\0${attempt}`).digest('hex').slice(0, 10);
  const readable = `${queueName}-${bullJobId}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  return `${readable}-a${attempt}-${hash}`.slice(0, 64);
}
