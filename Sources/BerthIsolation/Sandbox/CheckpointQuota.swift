#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CBerthSys

/// The size limit of each job's checkpoint subtree, enforced by the filesystem's project
/// quotas (ext4 with `-O project,quota` mounted `prjquota`, XFS with `pquota`): the job's
/// directory gets a project id of its own, which everything created below it inherits, and
/// the project a block limit, so a job that fills its subtree gets EDQUOT and no one else
/// notices. Where the filesystem has no project quotas on, there is no limit, and `berth
/// doctor` says so.
public struct CheckpointQuota: Sendable, Equatable {
    /// The limit of one job's subtree.
    public let bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    /// Whether the filesystem holding `path` (or its nearest existing ancestor) has project
    /// quotas on.
    public static func isEnforced(on path: String) -> Bool {
        var existing = path
        while access(existing, F_OK) != 0, let slash = existing.lastIndex(of: "/"), slash != existing.startIndex {
            existing = String(existing[..<slash])
        }
        let fd = open(existing, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return berth_project_quota_enabled(fd) == 1
    }

    /// Gives the job's directory its project (a new one, or the one it kept from an earlier
    /// run) and the limit. Returns the project id.
    @discardableResult
    func apply(to dirFD: Int32, path: String) throws -> UInt32 {
        let existing = berth_project_id(dirFD)
        guard existing >= 0 else { throw BerthError(.system, "read the project id of \(path): \(Sys.errnoText(errno))", errno: errno) }
        let project = existing > 0 ? UInt32(existing) : try Self.freeProject(dirFD, path: path)
        guard berth_project_quota_set(dirFD, project, UInt64(bytes)) == 0 else {
            throw BerthError(.system, "set the project quota of \(path) (project \(project), \(bytes) bytes): \(Sys.errnoText(errno))", errno: errno)
        }
        return project
    }

    /// A project id no directory uses yet: random, above the ids people assign by hand, and
    /// checked to hold no usage and no limit.
    static func freeProject(_ fd: Int32, path: String) throws -> UInt32 {
        for _ in 0..<32 {
            let candidate = UInt32.random(in: 0x0100_0000...0x7fff_ffff)
            var used: UInt64 = 0, limit: UInt64 = 0
            if berth_project_quota_get(fd, candidate, &used, &limit) == 0 && used == 0 && limit == 0 { return candidate }
        }
        throw BerthError(.system, "no free project id for \(path)")
    }

    /// Drops the limit of a removed job's project, through any fd on the filesystem.
    static func release(_ project: UInt32, through fd: Int32) {
        _ = berth_project_quota_limit(fd, project, 0)
    }
}
