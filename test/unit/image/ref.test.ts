// Image references: what parses, what is refused, and that refusals say the rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageName, parseImageRef } from '../../../src/image/ref.ts';

const HEX = 'a'.repeat(64);

describe('parseImageRef', () => {
  it('defaults the tag to latest', () => {
    assert.deepEqual(parseImageRef('busybox'), { kind: 'name', name: 'busybox', tag: 'latest' });
  });

  it('splits name and tag at the last colon', () => {
    assert.deepEqual(parseImageRef('team/tool-chain.v2:gcc_12'), { kind: 'name', name: 'team/tool-chain.v2', tag: 'gcc_12' });
  });

  it('accepts a sha256 digest', () => {
    assert.deepEqual(parseImageRef(`sha256:${HEX}`), { kind: 'digest', digest: `sha256:${HEX}`, hex: HEX });
  });

  const bad: Array<[string, RegExp]> = [
    ['', /1 to 255/],
    ['Busybox', /bad name component "Busybox"/],
    ['../etc', /\.\./],
    ['a/../b', /\.\./],
    ['a..b', /\.\./],
    ['/abs', /bad name component ""/],
    ['a//b', /bad name component ""/],
    ['a/', /bad name component ""/],
    ['.hidden', /bad name component/],
    ['a/./b', /bad name component "\."/],
    ['a b', /bad name component/],
    ['a\0b', /bad name component/],
    ['busybox:', /bad tag ""/],
    ['busybox:.x', /bad tag/],
    ['busybox:a/b', /bad tag/],
    ['busybox:Latest', /bad tag/],
    ['a:b:c', /bad name component "a:b"/],
    [`busybox:${'x'.repeat(129)}`, /bad tag/],
    [`${'a'.repeat(256)}`, /1 to 255/],
    ['sha256:abc', /64 lowercase hex/],
    [`sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
  ];
  for (const [ref, why] of bad) {
    it(`refuses ${JSON.stringify(ref).slice(0, 40)}`, () => {
      assert.throws(() => parseImageRef(ref), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'IMAGE_INVALID');
        assert.match(err.message, why);
        assert.match(err.message, /lowercase/, 'the message states the naming rules');
        return true;
      });
    });
  }
});

describe('parseImageName', () => {
  it('refuses a digest where a name is needed', () => {
    assert.throws(() => parseImageName(`sha256:${HEX}`), { code: 'IMAGE_INVALID' });
  });

  it('returns name and tag', () => {
    assert.deepEqual(parseImageName('busybox:1'), { name: 'busybox', tag: '1' });
  });
});
