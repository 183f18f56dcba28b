// The toolchain image, only where its tarball was already built (it takes about a
// minute: `cellblock image build toolchain`). Imports it into a temp store and
// compiles C and C++ and runs python3 in it, through an overlay so the image
// itself is never written.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CACHE_DIR } from '../../../src/image/recipes.ts';
import { ImageStore } from '../../../src/image/store.ts';
import { skipUnlessRoot, tempDir } from './helpers.ts';

const TARBALL = path.join(DEFAULT_CACHE_DIR, 'toolchain.tar');

const script = `set -e
cd /box
printf '#include <stdio.h>\\nint main(void){puts("c ok");return 0;}\\n' > a.c
gcc -O2 -o a a.c && ./a
printf '#include <iostream>\\nint main(){std::cout<<"c++ ok"<<std::endl;}\\n' > b.cc
g++ -O2 -o b b.cc && ./b
python3 -c 'print("python ok")'
make --version | head -n1
`;

describe('toolchain image', { skip: skipUnlessRoot || (existsSync(TARBALL) ? false : `no ${TARBALL}; build it with: cellblock image build toolchain`) }, () => {
  it('imports and compiles C and C++ and runs python3', { timeout: 180_000 }, async () => {
    const store = new ImageStore(tempDir('store'));
    const image = await store.importTarball(TARBALL, 'toolchain');
    const root = image.rootfs;
    for (const tool of ['usr/bin/gcc', 'usr/bin/g++', 'usr/bin/python3', 'usr/bin/make', 'usr/include/stdio.h']) {
      assert.ok(existsSync(path.join(root, tool)), tool);
    }
    const box = statSync(path.join(root, 'box'));
    assert.deepEqual([box.uid, box.gid], [1000, 1000]);
    assert.ok(!existsSync(path.join(root, 'usr/share/man/man1')), 'no man pages');

    const ov = tempDir('overlay');
    for (const d of ['upper', 'work', 'merged']) mkdirSync(path.join(ov, d));
    writeFileSync(path.join(ov, 'upper', 'job.sh'), script);
    const merged = path.join(ov, 'merged');
    const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `mount -t overlay overlay -o lowerdir=${root},upperdir=${ov}/upper,workdir=${ov}/work ${merged} && ` +
      `chroot --userspec=1000:1000 ${merged} /usr/bin/env HOME=/box PATH=/usr/bin:/bin /bin/sh /job.sh`], { encoding: 'utf8' });
    assert.equal(out, 'c ok\nc++ ok\npython ok\nGNU Make 4.3\n');
    assert.ok(!existsSync(path.join(root, 'box', 'a')), 'the image was not written');
  });
});
