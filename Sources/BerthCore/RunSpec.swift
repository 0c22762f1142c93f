/// Everything needed to start one run of a job: what to execute, as whom, within which limits.
public struct RunSpec: Sendable {
    public var tenant: TenantName = .default
    public var jobID = JobID()
    public var runID = RunID()
    /// argv; `argv[0]` is resolved against `PATH` by the launcher when it has no slash.
    public var argv: [String]
    public var environment: [String]
    public var workingDirectory: String
    public var resources = Resources()
    /// Milliseconds before the run is stopped and ends as timed out; nil means none.
    public var timeoutMillis: Int?
    /// Milliseconds between SIGTERM and `cgroup.kill` when a run is stopped.
    public var graceMillis = 10_000
    /// Fail instead of warning when the host cannot enforce part of `resources`.
    public var strict = false
    /// The seccomp profile's name: `default`, or `unconfined` where the operator allows it.
    public var seccomp = SeccompProfileName.default
    /// Namespaces, the tenant's uid, no capabilities, seccomp. Off only for operators'
    /// measurements (the launch benchmark's baseline row); never from a tenant's request.
    public var sandboxed = true
    /// A sandboxed run's network: `none` (the default) is a network namespace of its own with
    /// loopback only; `host` keeps the host's (operators' runs only: the API refuses it to
    /// tenants). An unsandboxed run has no namespaces, so the host's network whatever this says.
    public var network = NetworkMode.none
    /// Network `shaped`: what the job may send and receive, in bits per second (both required).
    public var egressBitsPerSecond: Int?
    public var ingressBitsPerSecond: Int?
    /// The job gets the caller's own stdin, stdout and stderr (`berth run -t`, for a terminal);
    /// by default they are pipes the shim relays, so the job never holds the caller's files.
    public var terminal = false
    /// Capabilities the operator grants the job (`NET_BIND_SERVICE`), kept as ambient ones;
    /// the launcher refuses any that is not on its short list.
    public var capabilities: [String] = []
    /// Where the job's stdout and stderr go: files the shim writes, caps and rotates (its stdin
    /// is then /dev/null). nil: relayed to the caller's own stdio (`berth run`).
    public var logs: RunLogs?
    /// The working directory is made when the job starts (mkdir -p, as the tenant, inside the
    /// run's private /tmp, which starts empty each run): a daemon's jobs start in
    /// `/tmp/<workdir>`. Only for a sandboxed run and a directory under /tmp, /var/tmp or /dev/shm.
    public var makeWorkingDirectory = false
    /// The tenant's id and uid from the store (the daemon); nil: from the launcher's registry.
    public var tenantIdentity: TenantIdentity?

    public init(argv: [String], environment: [String], workingDirectory: String) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

/// Log files for a run's output, written by its shim: `<directory>/stdout.log` and
/// `stderr.log`. A file that would pass `maxBytes` is rotated (`stdout.log` → `stdout.log.1`,
/// …), and at most `keep` files are kept per stream, the live one included: a stream never
/// takes more than `keep × maxBytes` bytes, however fast the job writes.
public struct RunLogs: Sendable, Codable, Equatable {
    /// An absolute path without symlinks.
    public var directory: String
    /// `directory` or one of its ancestors (not `/`): made (root's, the last level 0700) by the
    /// launcher if missing. The levels below it, and the files, the shim makes when the job
    /// first writes (each 0700, refused if it is a symlink or not root's): a run that writes
    /// nothing makes no inode, which matters on ext4 without a journal, where every new inode
    /// skips those freed in the last 30 to 100 s. Default: `directory`'s parent.
    public var base: String
    /// At least 4096.
    public var maxBytes: Int
    /// 1 to 100.
    public var keep: Int

    public init(directory: String, base: String? = nil, maxBytes: Int = 10 << 20, keep: Int = 3) {
        self.directory = directory
        self.base = base ?? String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
        self.maxBytes = maxBytes
        self.keep = keep
    }

    /// The files of one stream (`stdout` or `stderr`), newest first: `stdout.log`, `stdout.log.1`, ….
    public func files(_ stream: String) -> [String] {
        (0..<max(keep, 1)).map { "\(directory)/\(stream).log" + ($0 == 0 ? "" : ".\($0)") }
    }
}

/// Why a run ended.
public enum RunEnding: Sendable, Equatable {
    /// The job exited on its own with this code.
    case exited(code: Int)
    /// The job was killed by a signal it did not ask for.
    case signaled(signal: Int)
    /// The kernel's OOM killer killed it; `byTenantLimit` when the tenant's limit, not the job's, was hit.
    case oomKilled(byTenantLimit: Bool)
    /// It ran past its timeout and was stopped.
    case timedOut
    /// It was stopped on request (SIGINT/SIGTERM forwarded, or a cancel).
    case stopped(signal: Int)
    /// The command could not be executed; `errno` says why.
    case execFailed(errno: Int)
    /// Berth failed to start or supervise it.
    case launchFailed(message: String)

    /// The exit code `berth run` returns, following `docker run` and `timeout`.
    public var exitCode: Int32 {
        switch self {
        case .exited(let code): return Int32(code)
        case .signaled(let sig), .stopped(let sig): return Int32(128 + sig)
        case .oomKilled: return 137
        case .timedOut: return 124
        case .execFailed(let errno): return errno == 2 ? 127 : 126   // ENOENT: not found
        case .launchFailed: return 125
        }
    }

    /// A few words for the summary line.
    public var summary: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let sig): return "killed by signal \(sig)"
        case .oomKilled(let tenant): return tenant ? "OOM killed (tenant's memory limit)" : "OOM killed (job's memory limit)"
        case .timedOut: return "timed out"
        case .stopped(let sig): return "stopped by request (signal \(sig))"
        case .execFailed(let errno): return "could not execute (errno \(errno))"
        case .launchFailed(let message): return "launch failed: \(message)"
        }
    }

    /// A short stable word for JSON output.
    public var reason: String {
        switch self {
        case .exited: return "exited"
        case .signaled: return "signaled"
        case .oomKilled: return "oom_killed"
        case .timedOut: return "timed_out"
        case .stopped: return "stopped"
        case .execFailed: return "exec_failed"
        case .launchFailed: return "launch_failed"
        }
    }
}

/// The seccomp profiles a spec may name.
public enum SeccompProfileName: String, Sendable, CaseIterable {
    case `default`
    case unconfined

    public init(parsing text: String) throws {
        guard let p = SeccompProfileName(rawValue: text) else {
            throw BerthError.invalid("seccomp", "unknown profile; use one of: default, unconfined", got: text)
        }
        self = p
    }
}

/// A tenant's recorded id and uid, as the store allocated them. A run that carries one is
/// launched with it; without one, the launcher looks the tenant up in its own registry file
/// (`berth run`).
public struct TenantIdentity: Sendable, Equatable {
    public var id: TenantID
    public var uid: UInt32
    public init(id: TenantID, uid: UInt32) {
        self.id = id
        self.uid = uid
    }
}
