// One `cellblock-launcher --server` per runner: the only process the worker
// ever forks. Each job gets six fresh pipes; their far ends travel to the server
// over a SOCK_SEQPACKET socket (SCM_RIGHTS), and the server forks the job's
// supervisor onto them (native/src/server.c, native/PROTOCOL.md). Forking the
// worker itself per job would copy its page tables and block its event loop for
// milliseconds each time.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { CellblockError, errorMessage } from '../errors.ts';
import { closeFd, pipe, seqpacketPair, sendWithFds, SyscallError } from '../sys/libc.ts';
import { encodeConfig, encodeIdentity, type LaunchConfig, type LaunchEvents, type LaunchOutcome, type SandboxIdentity } from './launch.ts';
import { decodeWaitStatus, parseReport } from './report.ts';
import { signalName } from './verdict.ts';

/** errnos of a send to a server that has died since. */
const SERVER_GONE = new Set([32 /* EPIPE */, 104 /* ECONNRESET */, 107 /* ENOTCONN */, 111 /* ECONNREFUSED */]);
/** The server's request buffer (REQUEST_MAX in native/src/server.c). */
const REQUEST_MAX_BYTES = 16384;
/** How long the job's streams may stay open after its supervisor died without finishing. */
const ORPHANED_STREAM_GRACE_MS = 2000;

interface RunningServer {
  child: ChildProcess;
  /** Our end of the control socket; valid while `open`. */
  control: number;
  open: boolean;
  exited: Promise<void>;
}

export class LauncherServer {
  private server: RunningServer | undefined;
  private seq = 0;
  private readonly live = new Set<PreparedLaunch>();
  private closed = false;

  constructor(private readonly launcherPath: string) {}

  /** Start the server now (a runner does, so the first job does not wait for it). */
  start(): void {
    this.running();
  }

  /**
   * A supervisor of its own for one future job: it maps the sandbox's ids, joins
   * its cgroup and makes its namespaces now, and waits for the job.
   */
  prepare(identity: SandboxIdentity): PreparedLaunch {
    if (this.closed) throw new CellblockError('SANDBOX_FAILED', 'the launcher server is closed');
    const seq = ++this.seq;
    const request = `run ${seq}\n${encodeIdentity(identity)}`;
    if (Buffer.byteLength(request) > REQUEST_MAX_BYTES) {
      throw new CellblockError('SANDBOX_FAILED', `the sandbox's identity (its cgroup paths) is over ${REQUEST_MAX_BYTES} bytes: choose a shorter CELLBLOCK_CGROUP_PARENT`);
    }
    const pipes = JobPipes.create();
    try {
      this.send(request, pipes.launcherEnds, true);
    } catch (err) {
      pipes.closeNodeEnds();
      throw new CellblockError('SANDBOX_FAILED', `could not hand the sandbox to the launcher server: ${errorMessage(err)}`, { cause: err });
    } finally {
      pipes.closeLauncherEnds();
    }
    const prepared = new PreparedLaunch(pipes, () => this.killJob(seq));
    this.live.add(prepared);
    void prepared.gone.then(() => this.live.delete(prepared));
    return prepared;
  }

  /** Wait until every job's launcher is gone, then end the server. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live].map((l) => (l.alive ? l.discard() : l.gone)));
    const server = this.server;
    if (!server) return;
    server.child.ref(); // keep the worker alive until the server has ended
    this.shut(server);
    await server.exited;
  }

  private killJob(seq: number): void {
    // A dead server took its supervisors with it: nothing left to kill.
    if (!this.server?.open) return;
    try {
      this.send(`kill ${seq}`, [], false);
    } catch {
      // The server died between the check and the send: same as above.
    }
  }

  private send(text: string, fds: readonly number[], retryOnNewServer: boolean): void {
    for (let attempt = 0; ; attempt++) {
      const server = this.running();
      try {
        sendWithFds(server.control, text, fds);
        return;
      } catch (err) {
        if (!(err instanceof SyscallError && SERVER_GONE.has(err.errno))) throw err;
        this.shut(server);
        if (!retryOnNewServer || attempt > 0) throw err;
      }
    }
  }

  /** The server, started anew if there is none or it died. */
  private running(): RunningServer {
    if (this.server?.open) return this.server;
    const [ours, theirs] = seqpacketPair();
    let child: ChildProcess;
    try {
      // The job can read its pid 1's command line: it names no host path.
      child = spawn(this.launcherPath, ['--server'], { stdio: ['ignore', 'ignore', 'inherit', theirs], env: {}, argv0: 'cellblock-launcher' });
    } finally {
      closeFd(theirs);
    }
    if (child.pid === undefined) {
      closeFd(ours);
      throw new CellblockError('LAUNCHER_MISSING', `the launcher server ${this.launcherPath} could not be started`);
    }
    child.on('error', () => {}); // reported through 'exit'
    // An idle server must not keep the worker alive; it dies with the worker.
    child.unref();
    const server: RunningServer = { child, control: ours, open: true, exited: Promise.resolve() };
    server.exited = new Promise((resolve) => child.once('exit', () => {
      this.shut(server);
      resolve();
    }));
    this.server = server;
    return server;
  }

  /** Close our end of the control socket once: the server then ends its jobs and exits. */
  private shut(server: RunningServer): void {
    if (!server.open) return;
    server.open = false;
    closeFd(server.control);
  }
}

/** The six pipes of one job: Node keeps one end of each, the launcher gets the other. */
class JobPipes {
  private constructor(
    /** stdin (write), stdout, stderr (read), config (write), report, collect (read) */
    readonly nodeEnds: readonly [number, number, number, number, number, number],
    /** the same pipes' other ends, in the order of the launcher's fds 0-5 */
    readonly launcherEnds: readonly number[],
  ) {}

  static create(): JobPipes {
    const made: [number, number][] = [];
    try {
      for (let i = 0; i < 6; i++) made.push(pipe());
    } catch (err) {
      for (const [r, w] of made) [r, w].forEach(closeFd);
      throw new CellblockError('SANDBOX_FAILED', `could not make the job's pipes: ${errorMessage(err)}`, { cause: err });
    }
    const [stdin, stdout, stderr, config, report, collect] = made as [[number, number], [number, number], [number, number], [number, number], [number, number], [number, number]];
    return new JobPipes(
      [stdin[1], stdout[0], stderr[0], config[1], report[0], collect[0]],
      [stdin[0], stdout[1], stderr[1], config[0], report[1], collect[1]],
    );
  }

  closeLauncherEnds(): void {
    this.launcherEnds.forEach(closeFd);
  }

  closeNodeEnds(): void {
    this.nodeEnds.forEach(closeFd);
  }
}

const ignore = (): void => {};

function reader(fd: number): net.Socket {
  const s = new net.Socket({ fd, readable: true, writable: false });
  s.on('error', ignore);
  return s;
}

function writer(fd: number): net.Socket {
  // A job that never reads its stdin closes the pipe under us: not an error.
  const s = new net.Socket({ fd, readable: false, writable: true });
  s.on('error', ignore);
  return s;
}

/**
 * A sandbox's supervisor, prepared ahead of its job: `start` hands it the job
 * (once), `discard` ends it unused. Its report is read from the start, so a
 * supervisor that dies while waiting is noticed (`alive`).
 */
export class PreparedLaunch {
  /** The supervisor itself has been reaped (its mounts are gone): the job dir may go. */
  readonly gone: Promise<void>;
  private readonly report: net.Socket;
  private reportText = '';
  private onReport: (() => void) | undefined;
  private ended = false;
  private used = false;

  constructor(private readonly pipes: JobPipes, private readonly killer: () => void) {
    this.report = reader(pipes.nodeEnds[4]);
    this.report.setEncoding('utf8');
    // A sandbox waiting for a job must not keep the worker alive.
    this.report.unref();
    this.report.on('data', (s: string) => {
      this.reportText += s;
      this.onReport?.();
    });
    this.gone = new Promise((resolve) => this.report.once('close', () => {
      this.ended = true;
      resolve();
    }));
  }

  /** Still waiting for a job (its supervisor has not died). */
  get alive(): boolean {
    return !this.ended && !this.used;
  }

  /**
   * Hand over the job. Throws DeadSandboxError, with nothing of the job started,
   * when the supervisor turns out to have died while waiting (its configuration
   * pipe has no reader): the caller takes another sandbox.
   */
  start(config: LaunchConfig, stdin: string, events: LaunchEvents): Launch {
    if (this.used) throw new Error('a prepared launch is used once');
    this.used = true;
    this.report.ref();
    const [stdinFd, stdoutFd, stderrFd, configFd, , collectFd] = this.pipes.nodeEnds;
    // Fresh, empty pipes: what fits is written at once, without a trip through the event loop.
    if (!writeFresh(configFd, encodeConfig(config))) {
      [stdinFd, stdoutFd, stderrFd, collectFd].forEach(closeFd);
      throw new DeadSandboxError(parseReport(this.reportText).setupFailed);
    }
    writeFresh(stdinFd, Buffer.from(stdin));
    // Nothing to collect: the launcher sends nothing there, so there is nothing to read.
    const collect = config.collect ? reader(collectFd) : undefined;
    if (collect === undefined) closeFd(collectFd);
    return new Launch(
      { stdout: reader(stdoutFd), stderr: reader(stderrFd), collect, gone: this.gone },
      (listener) => {
        this.onReport = () => listener(this.reportText);
        listener(this.reportText);
      },
      config.collect ? config.collect.maxBytes + config.collect.maxFiles * 4096 + 1024 * 1024 : 0,
      events,
      () => { if (!this.ended) this.killer(); },
    );
  }

  /** End it unused: an empty configuration makes the supervisor exit. Resolves once it is gone. */
  discard(): Promise<void> {
    if (!this.used) {
      this.used = true;
      const [stdinFd, stdoutFd, stderrFd, configFd, , collectFd] = this.pipes.nodeEnds;
      [stdinFd, stdoutFd, stderrFd, configFd, collectFd].forEach(closeFd);
      this.report.ref();
    }
    return this.gone;
  }
}

/** A pipe's capacity on Linux unless changed: writes up to this size into an empty pipe never block. */
const PIPE_CAPACITY = 65536;

/** A prepared sandbox's supervisor died before it got its job (saying why, when it could). */
export class DeadSandboxError extends CellblockError {
  constructor(why?: { stage: string; message: string }) {
    super('SANDBOX_FAILED', `the prepared sandbox died before its job arrived${why ? ` (${why.stage}: ${why.message})` : ''}`);
  }
}

/** Write all of `data` and close: false when the pipe has no reader any more. */
function writeFresh(fd: number, data: Buffer): boolean {
  if (data.length > PIPE_CAPACITY) {
    writer(fd).end(data);
    return true;
  }
  try {
    if (data.length > 0) fs.writeSync(fd, data);
    return true;
  } catch {
    return false; // EPIPE: the reader is gone (a dead supervisor)
  } finally {
    closeFd(fd);
  }
}

interface LaunchStreams {
  stdout: net.Socket;
  stderr: net.Socket;
  /** Only when files are to be collected. */
  collect: net.Socket | undefined;
  /** The report pipe's end: the supervisor has been reaped. */
  gone: Promise<void>;
}

/** One job's launch, seen from Node: its streams, report and end. */
export class Launch {
  /** The job is over: every process of it reaped, its output and report complete. */
  readonly done: Promise<LaunchOutcome>;

  constructor(
    streams: LaunchStreams,
    watchReport: (listener: (text: string) => void) => void,
    collectCap: number,
    events: LaunchEvents,
    private readonly killer: () => void,
  ) {
    const { stdout, stderr, collect, gone } = streams;
    // The launcher caps what it sends; this cap only guards against a broken launcher.
    const collectChunks: Buffer[] = [];
    let collectBytes = 0;
    collect?.on('data', (c: Buffer) => {
      collectBytes += c.length;
      if (collectBytes <= collectCap) collectChunks.push(c);
    });
    stdout.on('data', (c: Buffer) => events.onStdout(c));
    stderr.on('data', (c: Buffer) => events.onStderr(c));

    let reportText = '';
    let startedSeen = false;
    let finished = false;
    const readers = collect ? [stdout, stderr, collect] : [stdout, stderr];
    // At its end a stream has delivered everything (it closes a little later).
    const streamsEnded = Promise.all(readers.map((s) => new Promise<void>((resolve) => {
      if (s.readableEnded || s.destroyed) return resolve();
      s.once('end', () => resolve());
      s.once('close', () => resolve());
    })));
    let resolveDone: (o: LaunchOutcome) => void = ignore;
    this.done = new Promise((resolve) => { resolveDone = resolve; });
    const finishWhenStreamsEnd = (): void => {
      if (finished) return;
      finished = true;
      void streamsEnded.then(() => {
        const parsed = parseReport(reportText);
        if (collectBytes > collectCap) parsed.warnings.push(`collect stream past ${collectCap} bytes: dropped`);
        resolveDone({ report: parsed, exit: launcherExit(parsed.disk !== undefined, parsed.goneStatus), collected: collectBytes > collectCap ? Buffer.alloc(0) : Buffer.concat(collectChunks) });
      });
    };
    watchReport((text) => {
      reportText = text;
      if (!startedSeen && text.includes('started ')) {
        const r = parseReport(text.slice(0, text.lastIndexOf('\n') + 1));
        if (r.startedNs !== undefined) {
          startedSeen = true;
          events.onStarted(r.startedNs);
        }
      }
      if (!finished && /(^|\n)done /.test(text)) finishWhenStreamsEnd();
    });
    gone.then(() => {
      if (finished) return;
      // The supervisor died without finishing: its job goes with it; do not wait long for stragglers.
      const grace = setTimeout(() => readers.forEach((s) => s.destroy()), ORPHANED_STREAM_GRACE_MS);
      grace.unref();
      finishWhenStreamsEnd();
    }, ignore);
  }

  /** End the job's supervisor, which takes every process of the job with it. */
  kill(): void {
    this.killer();
  }
}

function launcherExit(finished: boolean, goneStatus: number | undefined): LaunchOutcome['exit'] {
  if (finished) return { code: 0, signal: null };
  if (goneStatus === undefined) return { code: null, signal: 'the launcher server died' };
  const { exitCode, signal } = decodeWaitStatus(goneStatus);
  return { code: exitCode, signal: signal === null ? null : signalName(signal) };
}
