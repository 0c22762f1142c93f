import BerthCore

/// The single source of truth: tenants, quotas, tokens, jobs with their desired state, runs,
/// events and leases. The embedded implementation is `SQLiteStore`; the shape is the one a
/// PostgreSQL store ([6/7]) needs too:
/// - every write runs in a transaction that may be retried (`StoreError.retryable`);
/// - a leader's writes carry its fencing epoch, checked inside the transaction;
/// - leases are timed by the database's clock;
/// - jobs are updated by version compare-and-set;
/// - submissions carry idempotency keys;
/// - each transaction bumps one revision counter, so events read in revision order are in commit order.
public protocol Store: Sendable {
    // Leadership
    /// Takes (or renews) the named lease for `holder` for `ttlMillis` by the database's clock.
    /// Returns the fencing epoch (bumped when the holder changes), or nil if another holder has
    /// it. `takeOver` takes it from a live holder too: for a holder known to be dead (a daemon
    /// killed on this node, whose state-directory lock the caller now holds).
    func acquireLease(_ name: String, holder: String, ttlMillis: Int, takeOver: Bool) async throws -> Int64?
    /// The database's clock, in milliseconds since the epoch.
    func now() async throws -> Int64

    // Tenants, quotas and tokens
    func createTenant(name: String, uidRange: ClosedRange<UInt32>, uidTaken: @escaping @Sendable (UInt32) -> Bool,
                      tokenHash: String, epoch: Int64) async throws -> Tenant
    func tenants() async throws -> [Tenant]
    func tenant(named name: String) async throws -> Tenant?
    func tenant(id: String) async throws -> Tenant?
    func setQuota(tenant name: String, quota: Quota, epoch: Int64) async throws -> Tenant
    /// Marks the tenant `removing`, its jobs' desired state `removed`, and its tokens revoked.
    func removeTenant(named name: String, releaseAt: Int64, epoch: Int64) async throws -> Tenant
    /// Deletes a removing tenant's record once its resources are released.
    func deleteTenant(id: String, epoch: Int64) async throws
    func addToken(tenant name: String?, hash: String, epoch: Int64) async throws
    /// The principal a token hash belongs to; nil if none.
    func principal(tokenHash: String) async throws -> Principal?

    // Jobs
    /// Stores a new job (desired `running`, phase `pending`) and its `submitted` event. With an
    /// idempotency key already used by this tenant for the same spec, returns that job and
    /// `created: false`; for another spec, throws `.conflict`.
    /// With `startAtOnce`, a new job that fits and has no older pending job of its tenant ahead
    /// of it is stored already `starting`, with its run, in the same transaction; any other new
    /// job is stored with the reason it waits.
    func submit(tenantID: String, spec: JobSpec, idempotencyKey: String?, epoch: Int64,
                startAtOnce: StartAtOnce?) async throws -> (job: Job, created: Bool)
    func jobs(tenantID: String?) async throws -> [Job]
    func job(id: String) async throws -> Job?
    func job(tenantID: String, name: String) async throws -> Job?
    /// What one reconciler pass acts on: every job being stopped or removed, and the oldest
    /// `pendingPerTenant` waiting jobs (pending, or in backoff) of each tenant, in submission
    /// order. Running jobs need nothing until they end, so a pass costs what is waiting, not
    /// what runs.
    /// Each with what it counts against its tenant's quota (`defaultPids` where the spec is silent).
    func jobsToReconcile(pendingPerTenant: Int, defaultPids: Int) async throws -> [(job: Job, demand: Demand)]
    /// The sum of what each tenant's admitted jobs (starting, running, stopping) declare,
    /// leaving out the jobs in `excluding` (those the caller counts itself).
    func admittedDemand(defaultPids: Int, excluding: Set<String>) async throws -> [String: Demand]
    /// Writes `job` if its stored version is still `job.version`; bumps the version and records
    /// `event` in the same transaction. Returns the stored job; throws `.versionConflict` otherwise.
    func update(_ job: Job, event: Event?, epoch: Int64) async throws -> Job
    /// Reads the job, applies `change` and writes the result, all in one transaction: no lost
    /// update, no retry. `change` returns the event to record, or nil to leave the job as it
    /// is; if it throws, nothing is written. `run`, if given, is saved (inserted or replaced)
    /// in the same transaction unless `change` throws. Returns the job written, or nil.
    /// With `admitting`, the job must also fit in what is left of its tenant's quota, counted
    /// in the same transaction (the job itself left out); if it does not, `.overQuota` is thrown
    /// and nothing is written.
    func transition(jobID: String, saving run: Run?, epoch: Int64, admitting: AdmissionRule?,
                    _ change: @escaping @Sendable (inout Job) throws -> Event?) async throws -> Job?
    /// Whether any job of the tenant waits to be started (pending, or in backoff).
    func hasWaitingJobs(tenantID: String) async throws -> Bool
    /// Deletes a job whose desired state is `removed` and that has no active run.
    func deleteJob(id: String, epoch: Int64) async throws

    // Runs
    /// Inserts `run`, or replaces its state and body.
    func saveRun(_ run: Run, epoch: Int64) async throws
    func runs(jobID: String) async throws -> [Run]
    func run(id: String) async throws -> Run?
    /// Runs in `starting` or `running` on `node`: what a restarted agent re-adopts.
    func activeRuns(node: String) async throws -> [Run]

    // Events
    func record(_ event: Event, epoch: Int64) async throws
    func events(jobID: String, after revision: Int64, limit: Int) async throws -> [Event]
    func revision() async throws -> Int64

    /// Removes ended runs and events beyond the policy; returns how many rows went.
    func prune(_ policy: RetentionPolicy) async throws -> Int
}

/// Admission as the store applies it, inside the transaction that admits a job: two admissions
/// (a reconciler pass's, a submission's, another node's) can never both take the last of a quota.
public struct AdmissionRule: Sendable {
    /// What a job counts for pids when its spec is silent.
    public let defaultPids: Int
    /// Why a job declaring `demand` does not fit beside `used` under `quota`; nil when it fits.
    public let verdict: @Sendable (_ demand: Demand, _ used: Demand, _ quota: Quota) -> String?
    public init(defaultPids: Int, verdict: @escaping @Sendable (Demand, Demand, Quota) -> String?) {
        self.defaultPids = defaultPids
        self.verdict = verdict
    }
}

/// A submission's request to start its job at once, as run `runID` on `node`: one commit takes
/// the job from submitted to starting, with no reconciler pass in between.
public struct StartAtOnce: Sendable {
    public let node: String
    public let runID: String
    public let rule: AdmissionRule
    public init(node: String, runID: String, rule: AdmissionRule) {
        self.node = node
        self.runID = runID
        self.rule = rule
    }
}

extension Store {
    public func submit(tenantID: String, spec: JobSpec, idempotencyKey: String?, epoch: Int64) async throws -> (job: Job, created: Bool) {
        try await submit(tenantID: tenantID, spec: spec, idempotencyKey: idempotencyKey, epoch: epoch, startAtOnce: nil)
    }

    public func transition(jobID: String, saving run: Run?, epoch: Int64,
                           _ change: @escaping @Sendable (inout Job) throws -> Event?) async throws -> Job? {
        try await transition(jobID: jobID, saving: run, epoch: epoch, admitting: nil, change)
    }

    public func acquireLease(_ name: String, holder: String, ttlMillis: Int) async throws -> Int64? {
        try await acquireLease(name, holder: holder, ttlMillis: ttlMillis, takeOver: false)
    }

    public func admittedDemand(defaultPids: Int) async throws -> [String: Demand] {
        try await admittedDemand(defaultPids: defaultPids, excluding: [])
    }
}

/// How long finished runs and events are kept.
public struct RetentionPolicy: Sendable, Equatable {
    /// Ended runs kept per job, newest first.
    public var runsPerJob = 20
    /// Events kept per job, newest first.
    public var eventsPerJob = 200
    /// Ended runs and events older than this go whatever the counts.
    public var maxAgeMillis: Int64 = 7 * 86_400_000
    public init() {}
}

/// Why a store operation failed, beyond the model's own `BerthError`s.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// Another writer changed the record first: read it again and retry.
    case versionConflict(String)
    /// The write's fencing epoch is no longer the leader's: this process must stop acting.
    case fenced(current: Int64, mine: Int64)
    /// A unique name or key is already taken.
    case conflict(field: String, message: String)
    case notFound(String)
    /// A transient failure (busy, serialization): the transaction may be retried.
    case retryable(String)
    /// The job does not fit in what is left of its tenant's quota (the reason, as a job shows it).
    case overQuota(String)

    public var description: String {
        switch self {
        case .versionConflict(let what): return "\(what) was changed by another writer; try again"
        case .fenced(let current, let mine): return "this process is no longer the leader (epoch \(mine), current \(current))"
        case .conflict(_, let message): return message
        case .notFound(let what): return "\(what) not found"
        case .retryable(let why): return why
        case .overQuota(let why): return why
        }
    }
}
