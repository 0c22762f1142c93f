#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// The directory a run's log files go to (`RunSpec.logs`), read by no job. The launcher makes
/// `RunLogs.base` (owned by Berth's uid, root, the last level 0700); the shim makes the levels
/// below it and the files when the job first writes, so a silent run leaves no log inode behind.
enum LogDirectory {
    /// The spec's numbers and path, each error naming its field.
    static func check(_ logs: RunLogs) throws {
        try HostLayout.checkPath(logs.directory, field: "logs.directory")
        guard logs.directory.split(separator: "/").count > 0 else {
            throw BerthError.invalid("logs.directory", "must not be /", got: logs.directory)
        }
        try HostLayout.checkPath(logs.base, field: "logs.base")
        guard logs.base.split(separator: "/").count > 0 else {
            throw BerthError.invalid("logs.base", "must not be /", got: logs.base)
        }
        guard logs.directory.hasPrefix(logs.base + "/") else {
            throw BerthError.invalid("logs.base", "must be an ancestor of logs.directory (\(logs.directory))", got: logs.base)
        }
        guard (4096...(1 << 50)).contains(logs.maxBytes) else {
            throw BerthError.invalid("logs.maxBytes", "must be from 4096 to 2^50 bytes", got: String(logs.maxBytes))
        }
        guard (1...100).contains(logs.keep) else {
            throw BerthError.invalid("logs.keep", "must be from 1 to 100 files", got: String(logs.keep))
        }
    }

    /// Makes `path` (mode 0700) and any missing parent (0755), walking down from `/` with one
    /// directory fd per level, each opened with O_NOFOLLOW: a symlink anywhere on the path is
    /// refused (ELOOP or ENOTDIR), never followed. An existing directory at `path` must be this
    /// process's uid's; its mode is set to 0700. Returns the directories it made, deepest first,
    /// for a failed launch to remove.
    static func make(_ path: String) throws -> [String] {
        precondition(path.split(separator: "/").count > 0, "the log base is never / (check refuses it)")
        var made: [String] = []
        var parent = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { throw BerthError(.system, "open /: \(Sys.errnoText(errno))", errno: errno) }
        defer { close(parent) }
        let components = path.split(separator: "/").map(String.init)
        var shown = ""
        do {
            for (i, name) in components.enumerated() {
                shown += "/" + name
                let last = i == components.count - 1
                if mkdirat(parent, name, last ? 0o700 : 0o755) == 0 {
                    made.insert(shown, at: 0)
                } else if errno != EEXIST {
                    let e = errno
                    throw BerthError(.system, "logs.directory: mkdir \(shown): \(Sys.errnoText(e))", errno: e, field: "logs.directory")
                }
                let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else {
                    let e = errno
                    let why = e == ELOOP || e == ENOTDIR ? "is a symlink or not a directory; log directories are never reached through one" : Sys.errnoText(e)
                    throw BerthError(.system, "logs.directory: \(shown) \(why) (errno \(e))", errno: e, field: "logs.directory")
                }
                close(parent)
                parent = fd
            }
            var st = stat()
            guard fstat(parent, &st) == 0 else {
                throw BerthError(.system, "logs.directory: stat \(path): \(Sys.errnoText(errno))", errno: errno, field: "logs.directory")
            }
            guard st.st_uid == geteuid() else {
                throw BerthError(.system, "logs.directory: \(path) is owned by uid \(st.st_uid), not Berth's (\(geteuid()))", field: "logs.directory")
            }
            guard fchmod(parent, 0o700) == 0 else {
                throw BerthError(.system, "logs.directory: chmod 0700 \(path): \(Sys.errnoText(errno))", errno: errno, field: "logs.directory")
            }
        } catch {
            for dir in made { _ = rmdir(dir) }
            throw error
        }
        return made
    }
}
