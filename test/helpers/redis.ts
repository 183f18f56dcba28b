// A Redis for tests: REDIS_URL if set, else a container when a Docker engine is
// reachable, else Debian's redis-server on a free loopback port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  return spawnRedis(port, redisArgs(port, dir, persistent));
}

/** redis-server with these arguments, once it answers PING on `port`. */
async function spawnRedis(port: number, args: string[]): Promise<ChildProcess> {
  const child = spawn(redisServerBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
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

/** Processes this file started, stopped together (SIGTERM, then SIGKILL), and their dirs removed. */
function group(children: ChildProcess[], dirs: string[]): () => Promise<void> {
  const killAll = (): void => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  return async () => {
    process.removeListener('exit', killAll);
    await Promise.all(children.map(stopChild));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
}

export interface SentinelRedis {
  /** host:port of the sentinel */
  sentinels: string;
  masterName: string;
  stop(): Promise<void>;
}

/** A master and one Sentinel watching it, on free loopback ports. */
export async function startRedisSentinel(): Promise<SentinelRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cellblock-sentinel-'));
  const children: ChildProcess[] = [];
  const stop = group(children, [dir]);
  try {
    const masterPort = await freePort();
    children.push(await spawnRedis(masterPort, redisArgs(masterPort, dir, false)));
    const sentinelPort = await freePort();
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor cbmaster 127.0.0.1 ${masterPort} 1\n`);
    children.push(await spawnRedis(sentinelPort, [conf, '--sentinel']));
    return { sentinels: `127.0.0.1:${sentinelPort}`, masterName: 'cbmaster', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface ClusterRedis {
  /** host:port,host:port,host:port */
  nodes: string;
  stop(): Promise<void>;
}

/** A three-master Redis Cluster on loopback (ports whose bus ports, +10000, are free too). */
export async function startRedisCluster(): Promise<ClusterRedis> {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const stop = group(children, dirs);
  try {
    const ports: number[] = [];
    while (ports.length < 3) {
      const p = 20000 + Math.floor(Math.random() * 30000);
      if (!ports.includes(p) && (await portFree(p)) && (await portFree(p + 10000))) ports.push(p);
    }
    for (const port of ports) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'cellblock-cluster-'));
      dirs.push(dir);
      children.push(await spawnRedis(port, [...redisArgs(port, dir, false), '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf')]));
    }
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const info = spawnSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'], { encoding: 'utf8' });
      if (/cluster_state:ok/.test(info.stdout)) break;
      if (Date.now() > deadline) throw new Error(`cluster not ok: ${info.stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { nodes: nodes.join(','), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
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
