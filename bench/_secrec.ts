import { createRunner } from '../src/sandbox/runner.ts';
import { silentLogger } from '../src/log.ts';
import { leftovers } from '../test/helpers/leaks.ts';
const SCOPE = { stateDir: '/var/lib/cellblock-sec', cgroupParent: 'cellblock-sec', uidBase: 0x5d000000, uidRanges: 16 };
const runner = await createRunner({ stateDir: SCOPE.stateDir, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared: 0 });
console.log(await runner.reconcile());
await runner.close();
console.log('leftovers', leftovers(SCOPE));
