// Network (mode "none", the only one): a job reaches nothing outside its own
// loopback. Host services listen on the host's loopback and abstract sockets
// during each case and must see no connection.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import { describe, test } from 'node:test';
import { ROOT, runIn, useSandboxes } from './harness.ts';

const { runner } = useSandboxes();
const run = (cmd: string[], extra = {}) => runIn(runner(), cmd, extra);

async function listen(host: string): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = net.createServer((s) => { n++; s.destroy(); });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => n,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('network', () => {
  test("the host's IPv6 loopback services are out of reach", async () => {
    const s = await listen('::1');
    try {
      const r = await run(['sh', '-c', `nc -w 1 ::1 ${s.port} </dev/null; echo rc=$?`]);
      assert.match(r.stdout, /rc=1/);
    } finally {
      await s.close();
    }
    assert.equal(s.connections(), 0);
  });

  test("the host's own addresses and the internet are unreachable", async () => {
    const external = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '192.0.2.1';
    const s = await listen('0.0.0.0');
    try {
      const r = await run(['sh', '-c', `cbfix connect ${external} ${s.port}; cbfix connect 1.1.1.1 53; cbfix connect 10.0.2.2 6379`]);
      assert.equal(r.stdout, 'connect: Network is unreachable\n'.repeat(3));
    } finally {
      await s.close();
    }
    assert.equal(s.connections(), 0);
  });

  test("UDP to the host's loopback never arrives", async () => {
    let got = 0;
    const sock = dgram.createSocket('udp4');
    sock.on('message', () => { got++; });
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const port = sock.address().port;
    try {
      const r = await run(['sh', '-c', `for i in 1 2 3; do echo ping | nc -u -w 1 127.0.0.1 ${port}; done; echo sent`]);
      assert.match(r.stdout, /sent/);
      await new Promise((res) => setTimeout(res, 100));
    } finally {
      sock.close();
    }
    assert.equal(got, 0);
  });

  test("the host's abstract unix sockets are out of reach (they belong to a network namespace)", async () => {
    const name = `cellblock-test-${process.pid}`;
    let n = 0;
    const server = net.createServer((s) => { n++; s.destroy(); });
    await new Promise<void>((resolve) => server.listen(`\0${name}`, resolve));
    try {
      const r = await run(['cbfix', 'abstract', name], ROOT);
      assert.equal(r.stdout, 'abstract: Connection refused\n');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.equal(n, 0);
  });

  test('vsock (the way to a hypervisor host) and packet sockets are refused', async () => {
    const r = await run(['sh', '-c', 'cbfix socket 40 1; cbfix socket 17 3; cbfix socket 38 5'], ROOT);
    assert.equal(r.stdout, 'socket: Address family not supported by protocol\n'.repeat(3));
  });

  test('garbage in the upper half of socket()\'s family does not slip past the filter', async () => {
    const r = await run(['cbfix', 'highbits'], ROOT);
    assert.equal(r.stdout, 'highbits: Address family not supported by protocol\n');
  });

  test('loopback inside the sandbox works (the job may talk to itself)', async () => {
    const r = await run(['sh', '-c', 'cbfix abstract-listen self 1 & sleep 0.2; cbfix abstract self; nc -l -p 8080 -w 1 >/dev/null & sleep 0.1; echo x | nc -w 1 127.0.0.1 8080 && echo tcp-ok; wait']);
    assert.match(r.stdout, /abstract: ok/);
    assert.match(r.stdout, /tcp-ok/);
  });
});
