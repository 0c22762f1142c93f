#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CBerthSys

/// Berth's own file operations in the checkpoint tree, `<root>/<tenant-id>/<job-id>/…`.
/// Every path below the root is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS),
/// and removal works on directory fds, so a symlink a job plants can never make Berth read,
/// write or delete anything outside that job's subtree.
public struct CheckpointTree: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// The host path of a job's subtree.
    public func path(tenant: TenantID, job: JobID) -> String { "\(root)/\(tenant.rawValue)/\(job.rawValue)" }

    /// Creates the job's subtree, owned by the tenant's uid, mode 0700, and returns its path.
    public func createJobDirectory(tenant: TenantID, job: JobID, uid: UInt32) throws -> String {
        try Self.makeDirectories(root, mode: 0o711)
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let tenantFD = try ensureDirectory(in: rootFD, tenant.rawValue, uid: uid)
        defer { close(tenantFD) }
        close(try ensureDirectory(in: tenantFD, job.rawValue, uid: uid))
        return path(tenant: tenant, job: job)
    }

    /// Publishes a finished checkpoint: renames `staging` to `checkpoint` inside the job's
    /// subtree, without replacing anything, then fsyncs the directory. Refuses when either
    /// name is not a plain component or `staging` is not a real directory (a symlink, say).
    public func publish(tenant: TenantID, job: JobID, staging: String, as checkpoint: String) throws {
        for (field, name) in [("staging", staging), ("checkpoint", checkpoint)] {
            guard Self.isPlainName(name) else { throw BerthError.invalid(field, "must be one path component, not '.', '..' or containing '/'", got: name) }
        }
        let jobFD = try openJob(tenant: tenant, job: job)
        defer { close(jobFD) }
        let stagingFD = berth_openat2_beneath(jobFD, staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard stagingFD >= 0 else { throw refusal("publish \(staging)", errno) }
        close(stagingFD)
        try Sys.retrying(.system, "publish \(staging) as \(checkpoint)") {
            berth_rename_noreplace(jobFD, staging, jobFD, checkpoint)
        }
        try Sys.retrying(.system, "fsync the job's checkpoint directory") { fsync(jobFD) }
    }

    /// Removes the job's subtree. Symlinks inside are unlinked, never followed; a job directory
    /// whose own path leads through a symlink is refused.
    public func removeJobDirectory(tenant: TenantID, job: JobID) throws {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let tenantFD = berth_openat2_beneath(rootFD, tenant.rawValue, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if tenantFD < 0 && errno == ENOENT { return }
        guard tenantFD >= 0 else { throw refusal("remove \(tenant)/\(job)", errno) }
        defer { close(tenantFD) }
        let jobFD = berth_openat2_beneath(tenantFD, job.rawValue, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if jobFD < 0 && errno == ENOENT { return }
        guard jobFD >= 0 else { throw refusal("remove \(tenant)/\(job)", errno) }
        try Self.removeContents(of: jobFD)
        try Sys.retrying(.system, "remove \(path(tenant: tenant, job: job))") { unlinkat(tenantFD, job.rawValue, AT_REMOVEDIR) }
    }

    // MARK: -

    func openRoot() throws -> Int32 {
        try Sys.retrying(.system, "open \(root)") { open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    }

    func openJob(tenant: TenantID, job: JobID) throws -> Int32 {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let fd = berth_openat2_beneath(rootFD, "\(tenant.rawValue)/\(job.rawValue)", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw refusal("open \(tenant)/\(job)", errno) }
        return fd
    }

    func ensureDirectory(in parent: Int32, _ name: String, uid: UInt32) throws -> Int32 {
        if mkdirat(parent, name, 0o700) != 0 && errno != EEXIST {
            throw BerthError(.system, "mkdir \(name): \(Sys.errnoText(errno))")
        }
        let fd = berth_openat2_beneath(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw refusal("open \(name)", errno) }
        guard fchown(fd, uid, uid) == 0, fchmod(fd, 0o700) == 0 else {
            let e = errno
            close(fd)
            throw BerthError(.system, "chown \(name): \(Sys.errnoText(e))")
        }
        return fd
    }

    func refusal(_ what: String, _ e: Int32) -> BerthError {
        if e == ELOOP || e == EXDEV {
            return BerthError(.system, "\(what): refused, the path leads through a symlink or out of the job's subtree")
        }
        return BerthError(.system, "\(what): \(Sys.errnoText(e))")
    }

    /// Deletes everything under an open directory, depth first, never following a link.
    static func removeContents(of dirFD: Int32) throws {
        let dup = fcntl(dirFD, F_DUPFD_CLOEXEC, 0)
        guard dup >= 0, let dir = fdopendir(dup) else { throw BerthError(.system, "fdopendir: \(Sys.errnoText(errno))") }
        defer { closedir(dir) }
        var names: [(String, Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            var st = stat()
            guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            names.append((name, (st.st_mode & S_IFMT) == S_IFDIR))
        }
        for (name, isDirectory) in names {
            if isDirectory {
                let child = berth_openat2_beneath(dirFD, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
                guard child >= 0 else { throw BerthError(.system, "open \(name): \(Sys.errnoText(errno))") }
                defer { close(child) }
                try removeContents(of: child)
                try Sys.retrying(.system, "rmdir \(name)") { unlinkat(dirFD, name, AT_REMOVEDIR) }
            } else {
                try Sys.retrying(.system, "unlink \(name)") { unlinkat(dirFD, name, 0) }
            }
        }
    }

    static func isPlainName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && !s.contains("/") && !s.contains("\0") && s.utf8.count <= 255
    }

    /// mkdir -p: the last directory gets `mode`; those made above it 0755, because jobs must
    /// be able to walk through them to reach their own checkpoint subtree.
    static func makeDirectories(_ path: String, mode: mode_t) throws {
        var current = ""
        let components = path.split(separator: "/")
        for (i, component) in components.enumerated() {
            current += "/" + component
            if mkdir(current, i == components.count - 1 ? mode : 0o755) != 0 && errno != EEXIST {
                throw BerthError(.system, "mkdir \(current): \(Sys.errnoText(errno))")
            }
        }
    }
}
