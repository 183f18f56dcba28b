// `cellblock image build|import|pull|ls|inspect|rm|gc`: fill, list and trim the image store on this host.
import path from 'node:path';
import { configHelp, type CellblockConfig } from '../config.ts';
import type { ImageStore } from '../image/store.ts';
import type { Logger } from '../log.ts';
import { configFrom, EXIT_OK, loggerFor, mib, parseCommandArgs, parseSize, quietUnlessAsked, stringFlag, table, UsageError, type Command } from './common.ts';

const help = `Usage:
  cellblock image build NAME [--force]           build a recipe image (images/NAME/build.sh: busybox, toolchain)
  cellblock image import FILE|- --name NAME[:TAG] [--ref REF]
                                                 import a rootfs tarball (.tar, .tar.gz, .tar.zst, .tar.xz),
                                                 a docker save archive, or an OCI image layout (directory or tar);
                                                 --ref picks one image of an archive that holds several
  cellblock image pull REF [--name NAME[:TAG]] [--authfile FILE] [--plain-http]
                                                 pull [HOST[:PORT]/]REPO[:TAG][@sha256:...] from a registry
                                                 (credentials: a docker config.json; default $REGISTRY_AUTH_FILE,
                                                 $DOCKER_CONFIG/config.json, ~/.docker/config.json)
  cellblock image ls [--json]                    list the images in the store
  cellblock image inspect NAME[:TAG]|sha256:...  config, size, source, last use, whether a job uses it (JSON)
  cellblock image rm NAME[:TAG]|sha256:... ...   remove names, and images no name points at (not while a job uses them)
  cellblock image gc [--budget SIZE]             remove unnamed images, then least recently used ones until
                                                 the store fits SIZE (e.g. 20G); never an image a job uses

  --allow-setuid   keep setuid/setgid bits on files (build, import, pull); by default they are dropped
  --budget SIZE    also CELLBLOCK_IMAGE_BUDGET; when set, build, import and pull collect garbage afterwards

Images live under <state dir>/images, extracted once per content digest, read-only.

${configHelp()}`;

async function openStore(config: CellblockConfig, log: Logger): Promise<ImageStore> {
  const { ImageStore } = await import('../image/store.ts');
  return new ImageStore(path.join(config.stateDir, 'images'), log);
}

async function progressFor(verb: string, log: Logger) {
  const { progressReporter } = await import('../image/progress.ts');
  return progressReporter(verb, process.stderr, log);
}

function budgetFrom(values: Record<string, unknown>): number | undefined {
  const flag = typeof values.budget === 'string' ? values.budget : undefined;
  const text = flag ?? process.env.CELLBLOCK_IMAGE_BUDGET;
  if (text === undefined || text === '') return undefined;
  return parseSize(text, flag !== undefined ? '--budget' : 'CELLBLOCK_IMAGE_BUDGET');
}

/** After adding an image: keep the store under budget, never removing the image just added. */
function collect(store: ImageStore, budgetBytes: number | undefined, keep: string, log: Logger): void {
  if (budgetBytes === undefined) return;
  const report = store.gc({ budgetBytes, keep });
  if (report.removed.length > 0) log.info({ removed: report.removed.length, totalBytes: report.totalBytes }, 'images removed to stay under the budget');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    name: { type: 'string' }, json: { type: 'boolean' }, force: { type: 'boolean' }, ref: { type: 'string' },
    authfile: { type: 'string' }, 'plain-http': { type: 'boolean' }, 'allow-setuid': { type: 'boolean' }, budget: { type: 'string' },
  });
  const [sub, ...rest] = positionals;
  if (values.help === true || sub === undefined) {
    process.stdout.write(`${help}\n`);
    return values.help === true ? EXIT_OK : 2;
  }
  const quiet = sub === 'ls' || sub === 'inspect';
  const config = configFrom(values, quiet ? quietUnlessAsked(values) : {});
  const log = loggerFor(config);
  const allowSetuid = values['allow-setuid'] === true;
  const budgetBytes = budgetFrom(values);

  switch (sub) {
    case 'build': {
      if (rest.length !== 1) throw new UsageError('usage: cellblock image build NAME');
      const name = rest[0] ?? '';
      const store = await openStore(config, log);
      const { buildRecipe } = await import('../image/recipes.ts');
      const image = await buildRecipe(name, { store, log, force: values.force === true, allowSetuid });
      collect(store, budgetBytes, image.digest, log);
      process.stdout.write(`${name} ${image.digest}\n`);
      return EXIT_OK;
    }
    case 'import': {
      const name = stringFlag(values, 'name');
      if (rest.length !== 1 || name === undefined) throw new UsageError('usage: cellblock image import FILE|- --name NAME[:TAG]');
      const file = rest[0] ?? '';
      const store = await openStore(config, log);
      const progress = await progressFor('importing', log);
      const ref = stringFlag(values, 'ref');
      const opts = { progress, allowSetuid, ...(ref !== undefined && { ref }) };
      try {
        const image = file === '-' ? await store.importStream(process.stdin, name, opts) : await store.importFile(path.resolve(file), name, opts);
        progress.finish();
        collect(store, budgetBytes, image.digest, log);
        process.stdout.write(`${image.name} ${image.digest}\n`);
      } catch (err) {
        progress.finish();
        throw err;
      }
      return EXIT_OK;
    }
    case 'pull': {
      if (rest.length !== 1) throw new UsageError('usage: cellblock image pull [HOST[:PORT]/]REPO[:TAG][@sha256:...] [--name NAME[:TAG]]');
      const store = await openStore(config, log);
      const { pullImage } = await import('../image/pull.ts');
      const progress = await progressFor('pulling', log);
      const name = stringFlag(values, 'name');
      const authFile = stringFlag(values, 'authfile');
      try {
        const r = await pullImage(store, rest[0] ?? '', {
          progress, log, allowSetuid,
          ...(name !== undefined && { name }),
          ...(authFile !== undefined && { authFile }),
          ...(values['plain-http'] === true && { plainHttp: true }),
        });
        progress.finish();
        collect(store, budgetBytes, r.image.digest, log);
        process.stdout.write(`${r.image.name} ${r.image.digest} (manifest ${r.manifestDigest}${r.downloaded ? '' : ', already here'})\n`);
      } catch (err) {
        progress.finish();
        throw err;
      }
      return EXIT_OK;
    }
    case 'ls': {
      if (rest.length > 0) throw new UsageError('usage: cellblock image ls [--json]');
      const store = await openStore(config, log);
      const images = store.list();
      if (values.json === true) {
        process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
        return EXIT_OK;
      }
      const rows = images.map((i) => [`${i.name}:${i.tag}`, i.digest.slice(0, 19), i.sizeBytes === undefined ? '' : `${mib(i.sizeBytes)} MiB`, i.importedAt ?? '', i.lastUsed ?? '']);
      process.stdout.write(`${table(['NAME', 'DIGEST', 'SIZE', 'IMPORTED', 'LAST USED'], rows)}\n`);
      return EXIT_OK;
    }
    case 'inspect': {
      if (rest.length !== 1) throw new UsageError('usage: cellblock image inspect NAME[:TAG]|sha256:...');
      const store = await openStore(config, log);
      process.stdout.write(`${JSON.stringify(store.inspect(rest[0] ?? ''), null, 2)}\n`);
      return EXIT_OK;
    }
    case 'rm': {
      if (rest.length === 0) throw new UsageError('usage: cellblock image rm NAME[:TAG]|sha256:... ...');
      const store = await openStore(config, log);
      for (const ref of rest) {
        const r = await store.remove(ref);
        for (const u of r.untagged) process.stdout.write(`untagged ${u}\n`);
        if (r.deleted !== undefined) process.stdout.write(`deleted ${r.deleted}\n`);
      }
      return EXIT_OK;
    }
    case 'gc': {
      if (rest.length > 0) throw new UsageError('usage: cellblock image gc [--budget SIZE]');
      const store = await openStore(config, log);
      const report = store.gc(budgetBytes === undefined ? {} : { budgetBytes });
      for (const r of report.removed) process.stdout.write(`deleted ${r.digest} (${mib(r.sizeBytes)} MiB, ${r.reason}${r.refs.length > 0 ? `: ${r.refs.join(' ')}` : ''})\n`);
      for (const d of report.skippedInUse) process.stdout.write(`kept ${d} (in use)\n`);
      process.stdout.write(`images now take ${mib(report.totalBytes)} MiB${budgetBytes !== undefined ? ` (budget ${mib(budgetBytes)} MiB)` : ''}\n`);
      return EXIT_OK;
    }
    default:
      throw new UsageError(`unknown image command ${JSON.stringify(sub)}: build, import, pull, ls, inspect, rm or gc`);
  }
}

export const command: Command = { summary: 'build, import, pull, list, inspect, remove and garbage-collect images', help, main };
