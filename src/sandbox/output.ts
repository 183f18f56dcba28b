// Keeps the first `limit` bytes of a stream; notices (once) when there is more.

export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;

  constructor(private readonly limit: number, private readonly onOverflow: () => void) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(part);
      this.kept += part.length;
    }
    if (chunk.length > room && !this.truncated) {
      this.truncated = true;
      this.onOverflow();
    }
  }

  text(): string {
    return Buffer.concat(this.chunks, this.kept).toString('utf8');
  }
}
