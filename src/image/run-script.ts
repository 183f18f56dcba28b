// Runs a recipe's build script. On a terminal its output goes straight to stderr
// (mmdebstrap draws progress only for a tty); otherwise each line becomes a log
// record, and the last lines are kept for the error when the script fails.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CellblockError } from '../errors.ts';
import type { Logger } from '../log.ts';

const TAIL_LINES = 15;
/** Exit status of a recipe script that found a tool missing (as a shell does). */
const MISSING_TOOL = 127;

export async function runBuildScript(script: string, args: readonly string[], opts: { cwd: string; log: Logger; tty: boolean }): Promise<void> {
  const child = spawn('bash', [script, ...args], {
    cwd: opts.cwd,
    stdio: opts.tty ? ['ignore', process.stderr, process.stderr] : ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const follow = (stream: NodeJS.ReadableStream | null, name: string): void => {
    if (stream === null) return;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      opts.log.info({ stream: name }, line);
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    });
  };
  follow(child.stdout, 'stdout');
  follow(child.stderr, 'stderr');

  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', (err) => reject(new CellblockError('IMAGE_INVALID', `cannot run ${script}: ${err.message} (is bash installed?)`, { cause: err })));
    child.on('close', (c, s) => resolve([c, s]));
  });
  if (code === 0) return;
  const status = signal !== null ? `killed by ${signal}` : `exit ${code}`;
  if (code === MISSING_TOOL) {
    const said = tail.filter((l) => l.includes('not found') || l.includes('install')).at(-1);
    throw new CellblockError('IMAGE_INVALID', said ?? `${script} needs a tool that is not installed (${status}); its message is above`);
  }
  const output = opts.tty ? 'its output is above' : `last lines:\n${tail.join('\n')}`;
  throw new CellblockError('IMAGE_INVALID', `${script} failed (${status}); ${output}`);
}
