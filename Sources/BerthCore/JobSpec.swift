/// A job as its tenant declares it: what to run, with which resources, and what to do when it
/// ends. Stored as submitted (resources in the units people wrote); the run a launch makes of
/// it, and the host's policy, are separate (`RunSpec`, `HostLayout`).
public struct JobSpec: Codable, Sendable, Equatable {
    /// The job's name, unique within its tenant: 1–63 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit.
    public var name: String
    public var kind: JobKind = .batch
    /// argv; `command[0]` is resolved against the job's PATH when it has no slash.
    public var command: [String]
    /// Extra environment variables, added to Berth's (PATH, HOME, BERTH_*).
    public var env: [String: String] = [:]
    /// The working directory, relative to the run's private scratch (`/tmp`); nil: the scratch itself.
    public var workdir: String?
    public var resources = ResourceRequest()
    /// Milliseconds a run may last before it is stopped and ends as timed out; nil: no deadline.
    public var deadlineMillis: Int?
    public var network: NetworkMode = .none
    public var restart = RestartPolicy()
    public var checkpoint = CheckpointPolicy()
    public var labels: [String: String] = [:]

    public init(name: String, command: [String]) {
        self.name = name
        self.command = command
    }

    /// The run's working directory inside its sandbox.
    public var workingDirectory: String {
        guard let workdir, !workdir.isEmpty, workdir != "." else { return JobSpec.scratch }
        return JobSpec.scratch + "/" + workdir
    }

    /// The run's private scratch directory, a tmpfs made for each run.
    public static let scratch = "/tmp"
}

/// `service`: kept running, restarted per its policy. `batch`: runs to completion and ends
/// `succeeded` or `failed`.
public enum JobKind: String, Codable, Sendable, CaseIterable {
    case service, batch
}

/// A job's network ([4/7]): `none` is its own namespace with loopback only.
public enum NetworkMode: String, Codable, Sendable, CaseIterable {
    case none, shaped, host
}

/// When an ended run is followed by another, and how long Berth waits first.
public struct RestartPolicy: Codable, Sendable, Equatable {
    public enum Condition: String, Codable, Sendable, CaseIterable {
        case never
        case onFailure = "on-failure"
        case always
    }
    /// Default: a service restarts always, a batch job never (applied by the parser when unset).
    public var condition: Condition?
    /// Restarts allowed before the job is given up as failed; nil: no limit.
    public var maxRestarts: Int?
    /// The first wait, doubled after each restart up to `backoffMaxMillis`.
    public var backoffMillis = 1_000
    public var backoffMaxMillis = 60_000
    public init() {}

    /// The condition that applies to a job of `kind`.
    public func effectiveCondition(for kind: JobKind) -> Condition {
        condition ?? (kind == .service ? .always : .never)
    }

    /// The wait before restart number `n` (1-based): exponential, capped.
    public func backoff(restart n: Int) -> Int {
        var wait = backoffMillis
        for _ in 1..<max(n, 1) {
            if wait >= backoffMaxMillis / 2 { return backoffMaxMillis }
            wait *= 2
        }
        return min(wait, backoffMaxMillis)
    }
}

/// How a job's checkpoints are kept ([7/7]).
public struct CheckpointPolicy: Codable, Sendable, Equatable {
    /// Complete checkpoints kept; older ones are removed. nil: Berth's default.
    public var keep: Int?
    public init() {}
}
