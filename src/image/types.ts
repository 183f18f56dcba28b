// What the rest of cellblock knows about an image: a read-only rootfs on disk and
// the defaults from its config.

export interface ImageConfig {
  env: Record<string, string>;
  workingDir?: string;
  /**
   * "uid[:gid]" inside the sandbox, or names ("user[:group]", "uid:group"...) that
   * are looked up in the image's /etc/passwd and /etc/group when a job starts.
   */
  user?: string;
  /** A job's cmd is appended to it (as Docker does). */
  entrypoint?: string[];
  /** The command a job without its own cmd runs (after entrypoint). */
  cmd?: string[];
}

export interface ResolvedImage {
  /** The name the job used (name[:tag] or sha256:...). */
  name: string;
  /** sha256:<hex> of the content the image was extracted from. */
  digest: string;
  /** Absolute path of the extracted, read-only root filesystem. */
  rootfs: string;
  config: ImageConfig;
}
