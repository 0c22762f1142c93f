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
    /// The size limit of each job's subtree, where the filesystem enforces project quotas.
    public let quota: CheckpointQuota?

    public init(root: String, quota: CheckpointQuota? = nil) {
        self.root = root
        self.quota = quota
    }

    /// The host path of a job's subtree.
    public func path(tenant: TenantID, job: JobID) -> String { "\(root)/\(tenant.rawValue)/\(job.rawValue)" }

    /// Creates the job's subtree, owned by the tenant's uid, mode 0700, and returns its path.
    public func createJobDirectory(tenant: TenantID, job: JobID, uid: UInt32) throws -> String {
        try Self.makeDirectories(root, mode: 0o711)
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let tenantFD = try ensureDirectory(in: rootFD, tenant.rawValue, uid: uid)
        defer { close(tenantFD) }
        let jobFD = try ensureDirectory(in: tenantFD, job.rawValue, uid: uid)
        defer { close(jobFD) }
        try quota?.apply(to: jobFD, path: path(tenant: tenant, job: job))
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
    /// whose own path leads through a symlink is refused. Needs a bounded number of fds however
    /// deep the tree, and throws, naming the entry, for anything it cannot remove (an
    /// immutable directory, say); what is left can be removed by calling it again.
    public func removeJobDirectory(tenant: TenantID, job: JobID) throws {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let tenantFD = berth_openat2_beneath(rootFD, tenant.rawValue, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if tenantFD < 0 && errno == ENOENT { return }
        guard tenantFD >= 0 else { throw refusal("remove \(tenant)/\(job)", errno) }
        defer { close(tenantFD) }
        try removeJob(job.rawValue, in: tenantFD, tenant: tenant)
    }

    /// Removes a tenant's whole subtree, every job's checkpoints in it (each as
    /// `removeJobDirectory` does, so its project quota is released too): the last step of
    /// removing a tenant, once none of its runs is left.
    public func removeTenantDirectory(tenant: TenantID) throws {
        let rootFD = try openRoot()
        defer { close(rootFD) }
        let tenantFD = berth_openat2_beneath(rootFD, tenant.rawValue, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if tenantFD < 0 && errno == ENOENT { return }
        guard tenantFD >= 0 else { throw refusal("remove \(tenant)", errno) }
        defer { close(tenantFD) }
        for (name, _) in try Sys.entries(of: tenantFD, shown: "\(root)/\(tenant.rawValue)") {
            try removeJob(String(decoding: name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self), in: tenantFD, tenant: tenant)
        }
        try Self.removeDirectory(tenant.rawValue, in: rootFD, shown: "\(root)/\(tenant.rawValue)", parentShown: root)
    }

    /// Removes the entry `name` of a tenant's directory: a job's subtree, whose project quota
    /// is released once it is gone (or anything else found there).
    func removeJob(_ name: String, in tenantFD: Int32, tenant: TenantID) throws {
        let shown = "\(root)/\(tenant.rawValue)/\(name)"
        let jobFD = berth_openat2_beneath(tenantFD, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if jobFD < 0 && errno == ENOENT { return }
        if jobFD < 0 && errno == ENOTDIR {
            try Sys.retrying(.system, "remove \(shown)") { unlinkat(tenantFD, name, 0) }
            return
        }
        guard jobFD >= 0 else { throw refusal("remove \(tenant)/\(name)", errno) }
        defer { close(jobFD) }
        let project = quota == nil ? 0 : berth_project_id(jobFD)
        try Self.removeContents(of: jobFD, path: shown)
        try Self.removeDirectory(name, in: tenantFD, shown: shown, parentShown: "\(root)/\(tenant.rawValue)")
        if project > 0 { CheckpointQuota.release(UInt32(project), through: tenantFD) }
    }

    /// rmdir of an emptied directory, saying why when it cannot be (an immutable one, say).
    static func removeDirectory(_ name: String, in parentFD: Int32, shown: String, parentShown: String) throws {
        while unlinkat(parentFD, name, AT_REMOVEDIR) != 0 {
            let e = errno
            if e == EINTR { continue }
            if e == ENOENT { return }
            let why = SubtreeRemoval.reason(Array(name.utf8CString), in: parentFD, directoryShown: parentShown).map { ": \($0)" } ?? ""
            throw BerthError(.system, "remove \(shown): \(Sys.errnoText(e))\(why)", errno: e)
        }
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

    /// How much work one removal may do (unlinks, renames, rmdirs and directory listings)
    /// before it gives up. Far beyond any real job's subtree: it only stops a tree that keeps
    /// growing while it is removed, which takes something still writing in it.
    static let removalBudget = 20_000_000

    /// Deletes everything under the open directory `top` (shown as `path` in errors), never
    /// following a link and never leaving `top`, with at most two fds of its own open whatever
    /// the depth or breadth. Each directory is opened alone (openat2 beneath `top`): its other
    /// entries are unlinked, its subdirectories renamed up into `top` under a fresh name
    /// (renameat2 NOREPLACE, `.berth-rm-<n>`) to wait their turn, then it is removed. Throws on
    /// any failure, naming the entry by its original path and, for EPERM, the attribute that
    /// forbids it; `budget` bounds the work (see `removalBudget`).
    static func removeContents(of top: Int32, path: String, budget: Int = removalBudget) throws {
        var removal = SubtreeRemoval(top: top, path: path, budget: budget)
        try removal.run()
    }

    static func isPlainName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && !s.contains("/") && !s.contains("\0") && s.utf8.count <= 255
    }

    /// mkdir -p: the last directory gets `mode`; those made above it 0755, because jobs must
    /// be able to walk through them to reach their own checkpoint subtree.
    public static func makeDirectories(_ path: String, mode: mode_t) throws {
        // Usually all there already: one mkdir tells, and only a missing parent walks the path.
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
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

/// One removal under a directory `top`: the directories waiting in `top` (each renamed there
/// from wherever it was, so opening one never needs its parents open), where each came from,
/// for messages, the next fresh name, and the work left.
struct SubtreeRemoval {
    /// Where a directory was before it was moved up: its name and its parent's origin
    /// (nil: `top` itself). Kept for directories only, to name them in errors.
    struct Origin {
        let name: [CChar]
        let parent: Int?
    }

    /// A directory directly in `top`, under `name`, still to be emptied and removed.
    struct Pending {
        let name: [CChar]
        let origin: Int
    }

    struct Entry {
        let name: [CChar]
        let isDirectory: Bool
    }

    /// An entry, as errors name it; its path is only spelled out when one is thrown.
    enum Place {
        /// Directly in `top`, under its original name.
        case inTop([CChar])
        /// A directory waiting in `top`.
        case waiting(Pending)
        /// An entry of a directory waiting in `top`.
        case inWaiting(Pending, [CChar])
    }

    let top: Int32
    let path: String
    let budget: Int
    private var spent = 0
    private var origins: [Origin] = []
    private var pending: [Pending] = []
    private var nextFresh = 0

    init(top: Int32, path: String, budget: Int) {
        self.top = top
        self.path = path
        self.budget = budget
    }

    mutating func run() throws {
        while true {
            // Done only once a fresh listing finds nothing: entries made while we worked (by
            // something still running) are found here, and the budget bounds the rounds.
            let entries = try list(top, nil)
            if entries.isEmpty { return }
            for entry in entries {
                if !entry.isDirectory, try unlink(entry.name, in: top, .inTop(entry.name)) { continue }
                pending.append(Pending(name: entry.name, origin: record(entry.name, parent: nil)))
            }
            while let directory = pending.popLast() { try empty(directory) }
        }
    }

    /// Unlinks the entries of one directory waiting in `top`, moves its subdirectories up into
    /// `top`, then removes it.
    private mutating func empty(_ directory: Pending) throws {
        try spend()
        var fd = berth_openat2_beneath(top, directory.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if fd < 0 && errno == EACCES {
            // Made unreadable by the job (root never gets here). glibc does AT_SYMLINK_NOFOLLOW
            // through an O_PATH fd, so a link swapped in is refused, not followed.
            if fchmodat(top, directory.name, 0o700, AT_SYMLINK_NOFOLLOW) == 0 {
                fd = berth_openat2_beneath(top, directory.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
            } else {
                errno = EACCES
            }
        }
        if fd < 0 {
            let e = errno
            switch e {
            case ENOENT:
                return
            case ENOTDIR, ELOOP:
                // No longer a directory: replaced since it was listed, by something still running.
                if try !unlink(directory.name, in: top, .waiting(directory)) { pending.append(directory) }
                return
            default:
                throw failure("open", e, .waiting(directory), in: top)
            }
        }
        defer { close(fd) }
        for entry in try list(fd, directory) {
            if !entry.isDirectory, try unlink(entry.name, in: fd, .inWaiting(directory, entry.name)) { continue }
            try moveUp(entry.name, from: fd, parent: directory)
        }
        while true {
            try spend()
            if unlinkat(top, directory.name, AT_REMOVEDIR) == 0 { return }
            let e = errno
            switch e {
            case EINTR:
                continue
            case ENOENT:
                return
            case ENOTEMPTY, EEXIST:
                pending.append(directory)   // grew since it was listed: list it again
                return
            default:
                throw failure("remove", e, .waiting(directory), in: top)
            }
        }
    }

    /// Unlinks a non-directory; false when it turns out to be a directory after all.
    private mutating func unlink(_ name: [CChar], in dir: Int32, _ place: Place) throws -> Bool {
        while true {
            try spend()
            if unlinkat(dir, name, 0) == 0 { return true }
            let e = errno
            switch e {
            case EINTR: continue
            case ENOENT: return true
            case EISDIR: return false
            default: throw failure("remove", e, place, in: dir)
            }
        }
    }

    /// Renames a subdirectory of `parent` up into `top` under a fresh name, and queues it.
    private mutating func moveUp(_ name: [CChar], from dir: Int32, parent: Pending) throws {
        while true {
            try spend()
            let fresh = Array(".berth-rm-\(nextFresh)".utf8CString)
            nextFresh += 1
            if berth_rename_noreplace(dir, name, top, fresh) == 0 {
                pending.append(Pending(name: fresh, origin: record(name, parent: parent.origin)))
                return
            }
            let e = errno
            switch e {
            case EEXIST, EINTR:
                continue   // the name is taken (the job may have made one like it): the next
            case ENOENT:
                return
            default:
                throw failure("remove", e, .inWaiting(parent, name), in: dir)
            }
        }
    }

    /// The entries of an open directory, read through an fd of their own so that `dir` keeps
    /// no position. A type the filesystem does not give (DT_UNKNOWN) is asked of fstatat,
    /// never following a link.
    private mutating func list(_ dir: Int32, _ directory: Pending?) throws -> [Entry] {
        try spend()
        func listing() -> String { directory.map { shown($0.origin) } ?? path }
        var entries: [Entry] = []
        for (name, type) in try Sys.entries(of: dir, shown: listing()) {
            var isDirectory = Int(type) == DT_DIR
            if Int(type) == DT_UNKNOWN {
                var st = stat()
                if fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                    let e = errno
                    if e == ENOENT { continue }   // gone since it was listed: nothing to remove
                    throw BerthError(.system, "stat \(listing())/\(Self.text(name)): \(Sys.errnoText(e))")
                }
                isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
            }
            entries.append(Entry(name: name, isDirectory: isDirectory))
        }
        return entries
    }

    private mutating func spend() throws {
        spent += 1
        guard spent > budget else { return }
        throw BerthError(.system, "remove \(path): gave up after \(budget) operations: the subtree keeps growing while it is removed; is something still writing in it?")
    }

    private mutating func record(_ name: [CChar], parent: Int?) -> Int {
        origins.append(Origin(name: name, parent: parent))
        return origins.count - 1
    }

    /// The original path of a directory, or of an entry in it: `path/a/b/c`, with the middle
    /// of a very deep one left out.
    private func shown(_ origin: Int?, _ child: [CChar]? = nil) -> String {
        var components: [String] = child.map { [Self.text($0)] } ?? []
        var next = origin
        while let i = next {
            components.append(Self.text(origins[i].name))
            next = origins[i].parent
        }
        components.reverse()
        if components.count > 12 {
            components = Array(components.prefix(4)) + ["…(\(components.count - 10) levels)…"] + components.suffix(6)
        }
        return ([path] + components).joined(separator: "/")
    }

    /// An error for an entry in `dir`: its original path, the errno, for EPERM or EACCES the
    /// attribute that forbids it, and where it is now if it was moved up.
    private func failure(_ operation: String, _ e: Int32, _ place: Place, in dir: Int32) -> BerthError {
        let name: [CChar], entry: String, now: String, directoryShown: String
        switch place {
        case .inTop(let n):
            (name, entry, now, directoryShown) = (n, shown(nil, n), shown(nil, n), path)
        case .waiting(let d):
            (name, entry, now, directoryShown) = (d.name, shown(d.origin), path + "/" + Self.text(d.name), path)
        case .inWaiting(let d, let n):
            (name, entry, now, directoryShown) = (n, shown(d.origin, n), path + "/" + Self.text(d.name) + "/" + Self.text(n), shown(d.origin))
        }
        var message = "\(operation) \(entry): \(Sys.errnoText(e))"
        if e == EPERM || e == EACCES {
            if let why = Self.reason(name, in: dir, directoryShown: directoryShown) {
                message += ": " + why
            } else if dir != top, let attribute = Self.attribute(of: top) {
                message += ": \(path) has the \(attribute)"
            }
        }
        if now != entry { message += " (it is now at \(now))" }
        return BerthError(.system, message)
    }

    // MARK: - Inode attributes (FS_IOC_GETFLAGS)

    /// Why an entry cannot be removed when inode attributes forbid it: its own ("it has the
    /// immutable attribute …") or its directory's; nil when they do not.
    static func reason(_ name: [CChar], in dir: Int32, directoryShown: String) -> String? {
        if let attribute = attribute(of: name, in: dir) { return "it has the \(attribute)" }
        if let attribute = attribute(of: dir) { return "its directory \(directoryShown) has the \(attribute)" }
        return nil
    }

    /// The immutable or append-only attribute of an entry, named with how to clear it. Opens
    /// only directories and regular files: an ioctl on a device would reach its driver.
    static func attribute(of name: [CChar], in dir: Int32) -> String? {
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0, [S_IFDIR, S_IFREG].contains(st.st_mode & S_IFMT) else { return nil }
        let fd = berth_openat2_beneath(dir, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return attribute(of: fd)
    }

    /// The immutable or append-only attribute of an open file or directory, or nil.
    static func attribute(of fd: Int32) -> String? {
        let getFlags: UInt = 0x8008_6601   // FS_IOC_GETFLAGS; the kernel writes an int
        var flags: Int32 = 0
        guard ioctl(fd, getFlags, &flags) == 0 else { return nil }
        if flags & 0x10 != 0 { return "immutable attribute (lsattr shows it, chattr -i clears it)" }   // FS_IMMUTABLE_FL
        if flags & 0x20 != 0 { return "append-only attribute (lsattr shows it, chattr -a clears it)" }   // FS_APPEND_FL
        return nil
    }

    static func text(_ name: [CChar]) -> String {
        String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
