// A separate process importing into a store, for the cross-process tests: prints
// the store's log records (JSON lines) on stdout, and "EXTRACTING" when the
// extraction step starts, so a test can kill it right there.
import { pino } from 'pino';
import { ImageStore } from '../../../src/image/store.ts';

const [root, file, name] = process.argv.slice(2);
if (root === undefined || file === undefined || name === undefined) throw new Error('usage: import-child.ts ROOT FILE NAME');
const log = pino({ level: 'debug' }, process.stdout);
const store = new ImageStore(root, log);
await store.importFile(file, name, {
  progress: {
    step: (label) => {
      if (label.startsWith('extracting') || label.startsWith('layer')) process.stdout.write('EXTRACTING\n');
    },
    bytes: () => {},
    stepDone: () => {},
  },
});
