/// The service's records: what the store keeps and the API returns. Times are milliseconds
/// since the Unix epoch; ids are the strings of `TenantID`, `JobID`, `RunID`.

/// A tenant: a team with its own uid, quota, tokens and jobs.
public struct Tenant: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var uid: UInt32
    public var quota: Quota
    /// `active`, or `removing` once the operator removed it (its jobs are stopped, then its
    /// uid, cgroup and checkpoints are released after the grace period).
    public var state: String
    public var createdAt: Int64
    /// When a removing tenant's resources are released.
    public var releaseAt: Int64?
    public init(id: String, name: String, uid: UInt32, quota: Quota, state: String = "active", createdAt: Int64, releaseAt: Int64? = nil) {
        self.id = id; self.name = name; self.uid = uid; self.quota = quota; self.state = state
        self.createdAt = createdAt; self.releaseAt = releaseAt
    }
}

/// A tenant's ceiling, summed over its admitted jobs. nil: no limit on that resource.
public struct Quota: Codable, Sendable, Equatable {
    /// CPU in micro-cores (1 core = 1,000,000).
    public var cpuMicrocores: Int?
    public var memoryBytes: Int?
    /// Block I/O bandwidth, bytes per second, each direction.
    public var ioBytesPerSecond: Int?
    /// Network bandwidth, bits per second, each direction ([4/7] jobs declare theirs).
    public var networkBitsPerSecond: Int?
    public var pids: Int?
    /// Jobs running at once.
    public var jobs: Int?
    public init() {}
}

/// What one job counts against its tenant's quota while it is admitted.
public struct Demand: Sendable, Equatable {
    public var cpuMicrocores = 0
    public var memoryBytes = 0
    public var ioBytesPerSecond = 0
    public var networkBitsPerSecond = 0
    public var pids = 0
    public var jobs = 0
    public init() {}

    public static func + (a: Demand, b: Demand) -> Demand {
        var d = Demand()
        d.cpuMicrocores = a.cpuMicrocores &+ b.cpuMicrocores
        d.memoryBytes = a.memoryBytes &+ b.memoryBytes
        d.ioBytesPerSecond = a.ioBytesPerSecond &+ b.ioBytesPerSecond
        d.networkBitsPerSecond = a.networkBitsPerSecond &+ b.networkBitsPerSecond
        d.pids = a.pids &+ b.pids
        d.jobs = a.jobs &+ b.jobs
        return d
    }
}

extension JobSpec {
    /// What the job counts against its tenant's quota while admitted. `defaultPids` is the
    /// host's default `pids.max`, which applies when the spec is silent.
    public func demand(defaultPids: Int) -> Demand {
        var d = Demand()
        let r = (try? Resources(parsing: resources)) ?? Resources()
        d.cpuMicrocores = r.cpuMicrocores ?? 0
        d.memoryBytes = r.memoryMax ?? 0
        d.ioBytesPerSecond = max(r.io?.readBytesPerSecond ?? 0, r.io?.writeBytesPerSecond ?? 0)
        d.pids = r.pids ?? defaultPids
        d.jobs = 1
        return d
    }
}

/// The desired state of a job: the goal the reconciler drives toward.
public enum DesiredState: String, Codable, Sendable {
    case running, stopped, removed
}

/// Where a job is, as observed: the reconciler's view, shown to users.
public enum JobPhase: String, Codable, Sendable, CaseIterable {
    /// Waiting for admission: `reason` says what it waits for.
    case pending
    /// A run is being started.
    case starting
    case running
    /// The last run ended; the next starts at `nextAttemptAt`.
    case backoff
    /// A stop was asked for and the run is ending.
    case stopping
    case stopped
    /// A batch job's run exited 0 (or a service exited 0 under `on-failure`).
    case succeeded
    /// The job's last run failed and its restart policy allows no other.
    case failed

    /// The job holds its share of the quota in this phase.
    public var isAdmitted: Bool { self == .starting || self == .running || self == .stopping }
    /// Nothing more happens to the job unless someone changes its desired state.
    public var isFinal: Bool { self == .stopped || self == .succeeded || self == .failed }
}

/// A job as stored: its spec, its desired state and what was last observed.
public struct Job: Codable, Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var spec: JobSpec
    public var desired: DesiredState
    public var phase: JobPhase
    /// Why the job is in its phase (`waiting for quota: memory 768Mi of 1Gi used`), when there is one.
    public var reason: String?
    /// Runs started after the first.
    public var restarts: Int
    /// When a job in `backoff` starts its next run.
    public var nextAttemptAt: Int64?
    /// The run that is starting, running or stopping.
    public var currentRun: String?
    /// How the last run ended (`exited`, `oom_killed`…) and its exit code.
    public var lastExit: String?
    public var lastExitCode: Int?
    /// Bumped on every change: the compare-and-set version.
    public var version: Int64
    public var createdAt: Int64
    public var updatedAt: Int64
    public init(id: String, tenantID: String, spec: JobSpec, desired: DesiredState = .running, phase: JobPhase = .pending,
                reason: String? = nil, restarts: Int = 0, version: Int64 = 1, createdAt: Int64, updatedAt: Int64) {
        self.id = id; self.tenantID = tenantID; self.spec = spec; self.desired = desired; self.phase = phase
        self.reason = reason; self.restarts = restarts; self.version = version; self.createdAt = createdAt; self.updatedAt = updatedAt
    }
}

/// Where a run is.
public enum RunState: String, Codable, Sendable {
    /// Recorded before its shim is started: a restarted daemon finds it by its status file or knows it never began.
    case starting
    case running
    case ended
}

/// One incarnation of a job on a node.
public struct Run: Codable, Sendable, Equatable {
    public var id: String
    public var jobID: String
    public var tenantID: String
    public var node: String
    public var state: RunState
    /// The agent's record for re-adoption (shim pid and start time, status file), as JSON.
    public var handle: String?
    /// The job's pid (as the host sees it).
    public var pid: Int32?
    public var startedAt: Int64
    public var endedAt: Int64?
    /// `exited`, `signaled`, `oom_killed`, `timed_out`, `stopped`, `exec_failed`, `launch_failed`, `lost`.
    public var exit: String?
    public var exitCode: Int?
    public var message: String?
    public init(id: String, jobID: String, tenantID: String, node: String, state: RunState = .starting, startedAt: Int64) {
        self.id = id; self.jobID = jobID; self.tenantID = tenantID; self.node = node; self.state = state; self.startedAt = startedAt
    }
}

/// Something that happened to a job, with its reason: every reconciler action is one.
public struct Event: Codable, Sendable, Equatable {
    /// The store's revision of the transaction that recorded it: events are in commit order.
    public var revision: Int64
    public var at: Int64
    public var tenantID: String
    public var jobID: String?
    public var runID: String?
    /// `submitted`, `admitted`, `pending`, `started`, `ended`, `restarting`, `stopping`, `stopped`, `failed`, `succeeded`, `removed`, `adopted`, `quota`.
    public var kind: String
    public var message: String
    public init(revision: Int64 = 0, at: Int64, tenantID: String, jobID: String?, runID: String?, kind: String, message: String) {
        self.revision = revision; self.at = at; self.tenantID = tenantID; self.jobID = jobID; self.runID = runID
        self.kind = kind; self.message = message
    }
}

/// Who is calling the API.
public enum Principal: Sendable, Equatable {
    case `operator`
    case tenant(id: String, name: String)
}

/// The body of every API error: the HTTP status's meaning in `error`, what to fix in `message`,
/// and the field at fault when there is one.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public var message: String
    public var field: String?
    public init(error: String, message: String, field: String? = nil) {
        self.error = error; self.message = message; self.field = field
    }
}

/// The answer to a submission.
public struct SubmitResponse: Codable, Sendable {
    public var job: Job
    /// false when an earlier submission with the same idempotency key is answered again.
    public var created: Bool
    /// For `--dry-run`: would it start now, and if not, why.
    public var admissible: Bool
    public var reason: String?
    public init(job: Job, created: Bool, admissible: Bool, reason: String?) {
        self.job = job; self.created = created; self.admissible = admissible; self.reason = reason
    }
}

/// A job with its runs, as `berth status` shows it.
public struct JobStatus: Codable, Sendable {
    public var job: Job
    public var tenant: String
    public var runs: [Run]
    public var events: [Event]
    public init(job: Job, tenant: String, runs: [Run], events: [Event]) {
        self.job = job; self.tenant = tenant; self.runs = runs; self.events = events
    }
}

/// A tenant created, or a token made: the token is shown once and stored only hashed.
public struct TokenResponse: Codable, Sendable {
    public var tenant: Tenant
    public var token: String
    public init(tenant: Tenant, token: String) { self.tenant = tenant; self.token = token }
}

/// A tenant's quota beside what its admitted jobs use.
public struct QuotaUsage: Codable, Sendable {
    public var tenant: String
    public var quota: Quota
    public var usedCpuMicrocores: Int
    public var usedMemoryBytes: Int
    public var usedIOBytesPerSecond: Int
    public var usedNetworkBitsPerSecond: Int
    public var usedPids: Int
    public var usedJobs: Int
    public var pendingJobs: Int
    public init(tenant: String, quota: Quota, used: Demand, pendingJobs: Int) {
        self.tenant = tenant; self.quota = quota
        usedCpuMicrocores = used.cpuMicrocores; usedMemoryBytes = used.memoryBytes
        usedIOBytesPerSecond = used.ioBytesPerSecond; usedNetworkBitsPerSecond = used.networkBitsPerSecond
        usedPids = used.pids; usedJobs = used.jobs; self.pendingJobs = pendingJobs
    }
}

/// The body of `PUT /v1/tenants/{name}/quota`: values in the units people write
/// (`cpu: "4"`, `memory: "8Gi"`, `io: "100Mi"`, `network: "100Mbit"`, `pids: "4096"`, `jobs: "10"`);
/// a missing key leaves that limit as it was, `"none"` removes it.
public struct QuotaRequest: Codable, Sendable {
    public var cpu: String?
    public var memory: String?
    public var io: String?
    public var network: String?
    public var pids: String?
    public var jobs: String?
    public init() {}
}

/// `POST /v1/tenants`.
public struct TenantRequest: Codable, Sendable {
    public var name: String
    public init(name: String) { self.name = name }
}
