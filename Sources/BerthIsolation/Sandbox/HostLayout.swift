#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// Where Berth keeps its files on a host, and the operator's sandbox policy.
public struct HostLayout: Sendable {
    /// Runtime files that must outlive Berth's processes, not a reboot: `runs/` (status
    /// files), `roots/` (mount points of runs' root trees), compiled seccomp programs.
    public var runtimeDirectory = "/run/berth"
    /// Durable state: tenant uids (the store, later).
    public var stateDirectory = "/var/lib/berth"
    /// `<root>/<tenant-id>/<job-id>/`: what jobs may write that outlives a run.
    public var checkpointRoot = "/var/lib/berth/checkpoints"
    /// Tenant uids are allocated here; never root.
    public var uidRange = TenantRegistry.defaultRange
    /// Whether a spec may name the `unconfined` seccomp profile.
    public var allowUnconfined = false
    /// RLIMIT_NOFILE for jobs.
    public var jobFileLimit = 4096
    /// The operator's defaults, applied when a spec is silent: most tasks at once (`pids.max`),
    /// and the size of each private tmpfs (/tmp, /var/tmp, /dev/shm), whose pages are charged
    /// to the run's memory cgroup as well.
    public var defaultPids = 1024
    public var tmpfsSizeBytes = 64 << 20
    /// The size limit of each job's checkpoint subtree, where the filesystem enforces project
    /// quotas (see `CheckpointQuota`).
    public var checkpointQuotaBytes = 1 << 30

    public init() {}

    /// The private IPv4 range shaped runs' addresses come from, a /30 each (the host end's
    /// gateway and the run's eth0): `10.213.0.0/16` holds 16,384 runs.
    public var shapedNetwork = "10.213.0.0/16"
    /// Where shaped runs may go through the host (the operator's allow-list, `CIDR` or
    /// `CIDR:PORT`); nothing else, and nothing on the host itself (`NetworkFilter`).
    public var shapedAllow: [AllowRule] = []
    public var statusDirectory: String { runtimeDirectory + "/runs" }
    /// Address leases of shaped runs: one file per /30 in use, naming its run.
    public var leaseDirectory: String { runtimeDirectory + "/net-leases" }
    /// The mount point of every sandboxed run's root tree. Each run mounts its root there in its
    /// own private mount namespace, so one directory serves all runs at once: nothing is made
    /// or removed per run (on ext4 without a journal, every new inode skips those freed in the
    /// last 30 to 100 s, so per-run directories made launches slower the busier the host was).
    public var rootsDirectory: String { runtimeDirectory + "/roots" }

    /// Directories hidden from every job behind an empty read-only tmpfs: Berth's own state
    /// and runtime files (tokens, the store, other runs' status), the checkpoint root (the
    /// job's own subtree is bound back inside it) and home directories.
    public var masked: [String] {
        let candidates = [stateDirectory, runtimeDirectory, checkpointRoot] + extraMasks
        // A directory inside a private tmpfs or inside another mask is hidden already (and does
        // not exist in the run's tree, where a mask on it would fail the launch).
        let covering = Self.privateDirectories + candidates
        var paths: [String] = []
        for path in candidates where !paths.contains(path) {
            if covering.contains(where: { path.hasPrefix($0 + "/") }) { continue }
            paths.append(path)
        }
        return paths
    }

    /// The same layout with Berth's directories and the masked ones resolved through symlinks,
    /// once, so that every mask is placed on the real directory (a mask through a symlink
    /// would otherwise be skipped). Masked directories that do not exist hide nothing and are
    /// dropped. The directories must exist (the `Launcher` makes them).
    public func resolvingSymlinks() throws -> HostLayout {
        func real(_ field: String, _ path: String) throws -> String {
            guard let resolved = realpath(path, nil) else {
                throw BerthError.invalid(field, "cannot be resolved: \(Sys.errnoText(errno))", got: path)
            }
            defer { free(resolved) }
            let result = String(cString: resolved)
            guard result != "/" else { throw BerthError.invalid(field, "must not resolve to /", got: path) }
            return result
        }
        var copy = self
        copy.runtimeDirectory = try real("runtime-dir", runtimeDirectory)
        copy.stateDirectory = try real("state-dir", stateDirectory)
        copy.checkpointRoot = try real("checkpoint-root", checkpointRoot)
        // Every extra mask (the system ones and any `hide`) as it resolves; one that does not
        // exist hides nothing and is dropped.
        copy.extraMasks = extraMasks.compactMap { path in
            guard let resolved = realpath(path, nil) else { return nil }
            defer { free(resolved) }
            return String(cString: resolved)
        }
        try copy.validate()
        try copy.checkCheckpointRootIsReachable()
        return copy
    }

    /// Jobs (tenant uids) walk down to their own subtree: every directory above the checkpoint
    /// root must be searchable by others, except where a mask (a 0755 tmpfs) or a private
    /// tmpfs stands in for it inside the run.
    func checkCheckpointRootIsReachable() throws {
        let covering = masked + Self.privateDirectories
        var path = ""
        for component in checkpointRoot.split(separator: "/").dropLast() {
            path += "/" + component
            if covering.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { return }
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            guard st.st_mode & S_IXOTH != 0 else {
                throw BerthError.invalid("checkpoint-root", "jobs cannot reach it: \(path) is not searchable by others (mode \(String(st.st_mode & 0o7777, radix: 8)))", got: checkpointRoot)
            }
        }
    }

    /// Directories of the system Berth never puts its own in.
    static let systemDirectories = ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                                    "/sbin", "/sys", "/usr"]

    /// An operator's path: absolute, without `.` or `..`, NUL or newlines, shorter than PATH_MAX.
    public static func checkPath(_ path: String, field: String) throws {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), path.utf8.count < 4096, !path.contains("\0"), !path.contains("\n"),
              !components.contains(where: { $0 == "." || $0 == ".." }) else {
            throw BerthError.invalid(field, "must be an absolute path without '.' or '..'", got: path)
        }
    }

    /// Checks Berth's directories before anything is made: absolute, not `/` or a system
    /// directory (or inside one), and apart from each other. `resolvingSymlinks` checks the
    /// resolved paths again.
    public func validate() throws {
        let fields = [("runtime-dir", runtimeDirectory), ("state-dir", stateDirectory), ("checkpoint-root", checkpointRoot)]
        for (field, path) in fields {
            try Self.checkPath(path, field: field)
            let p = "/" + path.split(separator: "/").joined(separator: "/")
            guard p != "/" else { throw BerthError.invalid(field, "must not be /", got: path) }
            if let system = Self.systemDirectories.first(where: { p == $0 || p.hasPrefix($0 + "/") }) {
                throw BerthError.invalid(field, "must not be in \(system), a system directory", got: path)
            }
        }
        let (runtime, state, checkpoints) = (normalized(runtimeDirectory), normalized(stateDirectory), normalized(checkpointRoot))
        func within(_ a: String, _ b: String) -> Bool { a == b || a.hasPrefix(b + "/") }
        if within(runtime, state) || within(state, runtime) {
            throw BerthError.invalid("state-dir", "must be apart from the runtime-dir (\(runtimeDirectory))", got: stateDirectory)
        }
        if within(checkpoints, runtime) || within(runtime, checkpoints) || checkpoints == state || within(state, checkpoints) {
            throw BerthError.invalid("checkpoint-root", "must be apart from the runtime-dir and not hold the state-dir", got: checkpointRoot)
        }
    }

    /// Host directories no job sees, whatever Berth's own are.
    static let hiddenSystemDirectories = ["/home", "/root"]
    /// `hiddenSystemDirectories` as `resolvingSymlinks` found them.
    var extraMasks = HostLayout.hiddenSystemDirectories

    /// Hides one more host directory from every job (the daemon's state directory, which holds
    /// the store, the logs and the operator token).
    public mutating func hide(_ path: String) {
        if !extraMasks.contains(path) { extraMasks.append(path) }
    }

    /// Directories each run gets its own empty, writable tmpfs for.
    public static let privateDirectories = ["/tmp", "/var/tmp", "/dev/shm"]

    /// True when `path` is not the host's inside a job: masked, private, or a kernel view.
    public func hidesFromJobs(_ path: String) -> Bool {
        (masked + Self.privateDirectories + ["/proc", "/sys", "/dev"]).contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// Where a job starts: the requested directory, or else the caller's current one unless
    /// jobs cannot see it, then `/` with a warning to show.
    public func startingDirectory(requested: String?, current: String) -> (path: String, warning: String?) {
        if let requested { return (requested, nil) }
        guard hidesFromJobs(current) else { return (current, nil) }
        return ("/", "the current directory \(current) is hidden from jobs; the job starts in / (use --workdir)")
    }

    /// Checks a working directory (B2): absolute, no `.`/`..`, no symlink on the way, not a
    /// kernel view or a hidden directory, and an existing directory — or inside the job's own
    /// checkpoint subtree.
    ///
    /// With `creating` (the job makes it: `RunSpec.makeWorkingDirectory`) it must be inside the
    /// run's private /tmp, /var/tmp or /dev/shm instead: a tmpfs the sandbox makes empty for each
    /// run, so the path names nothing on the host and there is nothing there to check.
    public func validateWorkingDirectory(_ path: String, checkpointDirectory: String, creating: Bool = false) throws {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !path.contains("\0"), path.utf8.count < 4096,
              !components.contains(where: { $0 == "." || $0 == ".." }) else {
            throw BerthError.invalid("workdir", "must be an absolute path without '.' or '..'", got: path)
        }
        if creating {
            guard Self.privateDirectories.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) else {
                throw BerthError.invalid("workdir", "can be made only inside the run's private /tmp, /var/tmp or /dev/shm", got: path)
            }
            return
        }
        if path == checkpointDirectory || path.hasPrefix(checkpointDirectory + "/") { return }
        guard !hidesFromJobs(path) else {
            throw BerthError.invalid("workdir", "is hidden from jobs (/proc, /sys, /dev, /tmp, /var/tmp, home directories and Berth's own directories are not the host's inside a job)", got: path)
        }
        guard let resolved = realpath(path, nil) else {
            throw BerthError.invalid("workdir", "must be an existing directory", got: path)
        }
        defer { free(resolved) }
        let real = String(cString: resolved)
        let normalized = "/" + path.split(separator: "/").joined(separator: "/")
        guard real == normalized else {
            throw BerthError.invalid("workdir", "must not lead through a symlink (it resolves to \(real))", got: path)
        }
        var st = stat()
        guard stat(real, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw BerthError.invalid("workdir", "must be a directory", got: path)
        }
    }
}
