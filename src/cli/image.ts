// `cellblock image build|import|ls`: fill and list the image store on this host.
import path from 'node:path';
import { configHelp, type CellblockConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { configFrom, EXIT_OK, loggerFor, mib, parseCommandArgs, quietUnlessAsked, stringFlag, table, UsageError, type Command } from './common.ts';

const help = `Usage:
  cellblock image build NAME [--force]     build a recipe image (images/NAME/build.sh: toolchain, busybox)
  cellblock image import FILE --name NAME  import a rootfs tarball (FILE.tar[.gz]) as NAME
  cellblock image ls [--json]              list the images in the store

Images live under <state dir>/images, extracted once, read-only, by content digest.

${configHelp()}`;

async function openStore(config: CellblockConfig, log: Logger) {
  const { ImageStore } = await import('../image/store.ts');
  return new ImageStore(path.join(config.stateDir, 'images'), log);
}

function progressPrinter(): { onProgress: (bytes: number, total: number) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    onProgress: (bytes: number, total: number) => {
      const now = Date.now();
      if (!tty || now - last < 250) return;
      last = now;
      const pct = total > 0 ? ` (${Math.floor((bytes / total) * 100)}%)` : '';
      process.stderr.write(`\r\x1b[Kimporting: ${mib(bytes)} of ${mib(total)} MiB${pct}`);
    },
    done: () => {
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { name: { type: 'string' }, json: { type: 'boolean' }, force: { type: 'boolean' } });
  const [sub, ...rest] = positionals;
  if (values.help === true || sub === undefined) {
    process.stdout.write(`${help}\n`);
    return values.help === true ? EXIT_OK : 2;
  }
  const config = configFrom(values, sub === 'ls' ? quietUnlessAsked(values) : {});
  const log = loggerFor(config);

  switch (sub) {
    case 'build': {
      if (rest.length !== 1) throw new UsageError('usage: cellblock image build NAME');
      const name = rest[0] ?? '';
      const store = await openStore(config, log);
      const { buildRecipe } = await import('../image/recipes.ts');
      const image = await buildRecipe(name, { store, log, force: values.force === true });
      process.stdout.write(`${name} ${image.digest}\n`);
      return EXIT_OK;
    }
    case 'import': {
      const name = stringFlag(values, 'name');
      if (rest.length !== 1 || name === undefined) throw new UsageError('usage: cellblock image import FILE --name NAME');
      const file = rest[0] ?? '';
      const store = await openStore(config, log);
      const progress = progressPrinter();
      try {
        const image = await store.importTarball(path.resolve(file), name, { onProgress: progress.onProgress });
        progress.done();
        process.stdout.write(`${name} ${image.digest}\n`);
      } catch (err) {
        progress.done();
        throw err;
      }
      return EXIT_OK;
    }
    case 'ls': {
      if (rest.length > 0) throw new UsageError('usage: cellblock image ls [--json]');
      const store = await openStore(config, log);
      const images = await store.list();
      if (values.json === true) {
        process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
        return EXIT_OK;
      }
      const rows = images.map((i) => [`${i.name}:${i.tag}`, i.digest, i.sizeBytes === undefined ? '' : `${mib(i.sizeBytes)} MiB`, i.importedAt ?? '']);
      process.stdout.write(`${table(['NAME', 'DIGEST', 'SIZE', 'IMPORTED'], rows)}\n`);
      return EXIT_OK;
    }
    default:
      throw new UsageError(`unknown image command ${JSON.stringify(sub)}: build, import or ls`);
  }
}

export const command: Command = { summary: 'build, import and list images', help, main };
