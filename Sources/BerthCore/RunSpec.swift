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
    /// The job gets the caller's own stdin, stdout and stderr (`berth run -t`, for a terminal);
    /// by default they are pipes the shim relays, so the job never holds the caller's files.
    public var terminal = false
    /// Capabilities the operator grants the job (`NET_BIND_SERVICE`), kept as ambient ones;
    /// the launcher refuses any that is not on its short list.
    public var capabilities: [String] = []

    public init(argv: [String], environment: [String], workingDirectory: String) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
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
