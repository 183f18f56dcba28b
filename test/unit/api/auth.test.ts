// Bearer-token parsing and comparison for the HTTP API.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorized, bearerToken } from '../../../src/api/auth.ts';

describe('bearerToken', () => {
  test('takes the token of a Bearer header, scheme in any case', () => {
    assert.equal(bearerToken('Bearer abc.def-1'), 'abc.def-1');
    assert.equal(bearerToken('bearer abc'), 'abc');
    assert.equal(bearerToken('BEARER   abc  '), 'abc');
  });
  test('nothing for other schemes, a missing token, extra words or no header', () => {
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken(''), undefined);
    assert.equal(bearerToken('Basic dXNlcjpwdw=='), undefined);
    assert.equal(bearerToken('Bearer'), undefined);
    assert.equal(bearerToken('Bearer a b'), undefined);
    assert.equal(bearerToken('Bearerabc'), undefined);
  });
});

describe('authorized', () => {
  test('only the exact token passes', () => {
    assert.equal(authorized('Bearer s3cret', 's3cret'), true);
    assert.equal(authorized('Bearer s3cret2', 's3cret'), false);
    assert.equal(authorized('Bearer s3cre', 's3cret'), false);
    assert.equal(authorized('Bearer S3CRET', 's3cret'), false);
    assert.equal(authorized(undefined, 's3cret'), false);
  });
});
