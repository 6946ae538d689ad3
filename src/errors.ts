/**
 * A mistake the user can fix (bad config, missing file, unavailable engine, a full disk).
 * The CLI prints its message as one line and exits with code 2; anything else is a bug.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** A value as a message shows it: JSON, but for the numbers JSON writes as null (NaN, Infinity). */
export function shownValue(value: unknown): string {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
}

/** What each file-system failure means, in words a user acts on. */
const FILE_SYSTEM_CAUSES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a file stands where a directory was expected',
  EISDIR: 'is a directory, where a file was expected',
  EEXIST: 'already exists',
  ENOTEMPTY: 'directory not empty',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for this file system',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on this system',
  EIO: 'input/output error (a failing disk or network file system)',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EBUSY: 'busy (held by another process)',
  EXDEV: 'cannot rename across file systems',
};

const VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create directory',
  rmdir: 'remove',
  rm: 'remove',
  unlink: 'remove',
  rename: 'rename',
  scandir: 'list',
  stat: 'read',
  lstat: 'read',
  fsync: 'write',
  copyfile: 'copy',
  link: 'link',
};

/**
 * A Node file-system error (ENOSPC, EROFS, EISDIR, …) as a UserError naming the path and the cause;
 * undefined for anything else. A full disk or a read-only directory is for the user to fix, not a bug.
 */
export function fileSystemError(error: unknown, path?: string): UserError | undefined {
  const { code, syscall, path: errorPath, dest } = (error ?? {}) as NodeJS.ErrnoException & { dest?: string };
  if (typeof code !== 'string' || !(code in FILE_SYSTEM_CAUSES)) return undefined;
  if (syscall === 'uv_cwd')
    return new UserError(`the current directory is gone (${code}: deleted or moved?): cd into one that exists`);
  const where = path ?? errorPath;
  const verb = VERBS[syscall ?? ''] ?? 'use';
  const target = where ? `${where}${dest && verb === 'rename' ? ` → ${dest}` : ''}` : '(a file)';
  return new UserError(`cannot ${verb} ${target}: ${FILE_SYSTEM_CAUSES[code]} (${code})`);
}

/** Runs `work`; a file-system failure in it becomes a UserError naming `path` (for calls whose errors lack one). */
export function onPath<T>(path: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw fileSystemError(error, path) ?? error;
  }
}
