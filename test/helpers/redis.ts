// A Redis for tests: REDIS_URL if set, else a container when a Docker engine is
// reachable, else Debian's redis-server on a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    // Someone else's Redis: never stopped here.
    return { url: fromEnv, stop: async () => {} };
  }
  if (dockerLooksReachable()) {
    try {
      return await startContainer();
    } catch (err) {
      process.stderr.write(`startRedis: docker container failed (${err instanceof Error ? err.message : String(err)}); using redis-server\n`);
    }
  }
  return startRedisServer();
}

function dockerLooksReachable(): boolean {
  const host = process.env.DOCKER_HOST;
  if (host !== undefined && host !== '') return true;
  return existsSync('/var/run/docker.sock');
}

async function startContainer(): Promise<TestRedis> {
  // Loaded only here: testcontainers is heavy and probes the environment on import.
  const { GenericContainer, getContainerRuntimeClient } = await import('testcontainers');
  await getContainerRuntimeClient();
  const container = await new GenericContainer('redis:7').withExposedPorts(6379).withStartupTimeout(60_000).start();
  const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  await waitForPong(container.getHost(), container.getMappedPort(6379), 10_000);
  return {
    url,
    stop: async () => {
      await container.stop();
    },
  };
}

function redisServerBinary(): string {
  return existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';
}

export interface LocalRedis extends TestRedis {
  /** Stop the server (SIGTERM: an AOF server writes what it has), wait `downMs`, start it again on the same port and data. */
  restart(downMs: number): Promise<void>;
}

function redisArgs(port: number, dir: string, persistent: boolean): string[] {
  const persistence = persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no', '--dir', dir, '--loglevel', 'warning'];
}

async function spawnServer(port: number, dir: string, persistent: boolean): Promise<ChildProcess> {
  const child = spawn(redisServerBinary(), redisArgs(port, dir, persistent), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  try {
    await Promise.race([waitForPong('127.0.0.1', port, 10_000), exited(child).then((code) => Promise.reject(new Error(`redis-server exited (${code}): ${stderr.trim()}`)))]);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return child;
}

/** Debian's redis-server on a free loopback port; `persistent` keeps its data across restart(). */
export async function startLocalRedisServer(opts: { persistent?: boolean } = {}): Promise<LocalRedis> {
  const persistent = opts.persistent ?? false;
  let lastError: unknown;
  // A free port can be taken between probing and binding it; try a few.
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cellblock-redis-'));
    let child: ChildProcess;
    try {
      child = await spawnServer(port, dir, persistent);
    } catch (err) {
      lastError = err;
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.on('exit', killOnExit);
    return {
      url: `redis://127.0.0.1:${port}`,
      restart: async (downMs: number) => {
        await stopChild(child);
        await new Promise((r) => setTimeout(r, downMs));
        child = await spawnServer(port, dir, persistent);
      },
      stop: async () => {
        process.removeListener('exit', killOnExit);
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`could not start redis-server: ${lastError instanceof Error ? lastError.message : String(lastError)} (apt-get install redis-server, or set REDIS_URL)`);
}

function startRedisServer(): Promise<TestRedis> {
  return startLocalRedisServer();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function exited(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode ?? 'gone');
    else child.once('exit', (code, signal) => resolve(code ?? signal ?? 'gone'));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(timer);
}

/** PING over a raw socket until +PONG comes back. */
async function waitForPong(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pingOnce(host, port)) return;
    if (Date.now() > deadline) throw new Error(`no PONG from ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function pingOnce(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = '';
    const finish = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => finish(false));
    sock.once('error', () => finish(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) finish(buf.startsWith('+PONG'));
    });
  });
}
