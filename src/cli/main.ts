// cellblock's command line: dispatches to one module per subcommand, loaded on demand
// so that `submit` never loads the sandbox and `run` never loads BullMQ's worker.
import { CellblockError, errorMessage } from '../errors.ts';
import { InvalidJobError } from '../job/spec.ts';
import { QueueError } from '../queue/errors.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from './common.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  worker: { summary: 'run jobs from the queue until stopped', load: async () => (await import('./worker.ts')).command },
  submit: { summary: 'add a job to the queue (and wait for its result)', load: async () => (await import('./submit.ts')).command },
  run: { summary: 'run one job here and now, without the queue', load: async () => (await import('./run.ts')).command },
  image: { summary: 'build, import and list images', load: async () => (await import('./image.ts')).command },
  doctor: { summary: 'check that this host can run sandboxes, and say what to fix', load: async () => (await import('./doctor.ts')).command },
  demo: { summary: 'run the demo batch through the queue and check every verdict', load: async () => (await import('./demo.ts')).command },
  serve: { summary: 'serve the HTTP API (enqueue, inspect, cancel jobs)', load: async () => (await import('./serve.ts')).command },
};

function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(w)}  ${c.summary}`);
  return `Usage: cellblock COMMAND [options]

Sandboxed job execution: jobs from a Redis queue, each in a fresh locked-down container.

Commands:
${lines.join('\n')}

Run 'cellblock COMMAND --help' for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? rest[0] : undefined;
    if (target !== undefined && COMMANDS[target] !== undefined) return main([target, '--help']);
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    process.stderr.write(`cellblock: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  try {
    const command = await entry.load();
    return await command.main(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cellblock ${name}: ${err.message}\nRun 'cellblock ${name} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    // Expected failures carry a message meant for people; anything else gets its stack
    // at debug level, where it helps.
    const known = err instanceof CellblockError || err instanceof InvalidJobError || err instanceof QueueError;
    process.stderr.write(`cellblock ${name}: ${errorMessage(err)}\n`);
    if (!known && process.env.CELLBLOCK_LOG_LEVEL === 'debug' && err instanceof Error && err.stack !== undefined) {
      process.stderr.write(`${err.stack}\n`);
    }
    return EXIT_FAILURE;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; a library handle left open must not keep a finished
// command alive (unref'd: this timer alone never holds the process).
setTimeout(() => process.exit(code), 2000).unref();
