/**
 * The one atomic file replace of the project: a reader sees the old content or the new content,
 * never a mix or a truncated file, and once the call returns the new content survives a power
 * loss.
 *
 * The content goes to a temporary file in the same directory (`<file>.<hash>`), is fsynced, then
 * renamed over the target (rename(2) is atomic within one file system, POSIX.1-2017 `rename`);
 * `write-file-atomic` (npm's own writer) does that part. It does not fsync the containing
 * directory, so after a power loss the rename itself could be lost (the directory entry is
 * metadata of the directory: ext4 and XFS make it durable only on an fsync of the directory, see
 * fsync(2) "Calling fsync() does not necessarily ensure that the entry in the directory containing
 * the file has also reached disk"). This module adds that fsync.
 *
 * A process killed mid-write (SIGKILL) leaves the target intact and, at worst, a stray
 * `<file>.<hash>` temporary file beside it (other signals remove it on exit).
 */
import { closeSync, fsyncSync, openSync, realpathSync } from 'node:fs'
import { open, realpath } from 'node:fs/promises'
import { dirname } from 'node:path'
import writeFileAtomicLib from 'write-file-atomic'

/** Options of {@link writeFileAtomic} and {@link writeFileAtomicSync}. */
export interface AtomicWriteOptions {
  /**
   * Permission bits of the file (e.g. `0o600` for files that hold policy or learnt state). Default:
   * the mode of the file being replaced, or `0o666` minus the umask for a new file.
   */
  mode?: number
}

/**
 * Error codes of fsync on a directory that mean "this file system cannot fsync a directory"
 * (some network and FUSE file systems answer EINVAL; Windows answers EISDIR or EPERM on opening a
 * directory). The rename is still atomic there, just not known to be durable.
 */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR'])

/**
 * Replaces `path` atomically and durably with `data` (UTF-8 when a string): temporary file,
 * fsync, rename, fsync of the containing directory. Concurrent calls for the same path within
 * this process are serialised (the last one wins).
 * @throws the file system error (ENOENT when the directory does not exist, EACCES, ENOSPC, …);
 *   the target is then unchanged and the temporary file removed
 */
export async function writeFileAtomic(path: string, data: string | Buffer, opts: AtomicWriteOptions = {}): Promise<void> {
  await writeFileAtomicLib(path, data, { fsync: true, ...(opts.mode !== undefined ? { mode: opts.mode } : {}) })
  await fsyncDir(dirname(await realpath(path)))
}

/**
 * The synchronous {@link writeFileAtomic}, for callers that must finish before they return (a
 * policy change acknowledged to an operator, a CLI writing its output).
 * @throws as {@link writeFileAtomic}
 */
export function writeFileAtomicSync(path: string, data: string | Buffer, opts: AtomicWriteOptions = {}): void {
  writeFileAtomicLib.sync(path, data, { fsync: true, ...(opts.mode !== undefined ? { mode: opts.mode } : {}) })
  fsyncDirSync(dirname(realpathSync(path)))
}

/**
 * fsyncs a directory so that creations, renames and deletions of its entries are durable. A file
 * system that cannot fsync a directory (EINVAL, ENOTSUP, EOPNOTSUPP, EISDIR) is accepted silently.
 * @throws other file system errors (ENOENT, EACCES, EIO)
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fh
  try {
    fh = await open(dir, 'r')
    await fh.sync()
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err
  } finally {
    await fh?.close()
  }
}

/** The synchronous {@link fsyncDir}. @throws as {@link fsyncDir} */
export function fsyncDirSync(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
