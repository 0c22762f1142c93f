import BerthCore
import FoundationEssentials
import GRDB
import Synchronization

/// The embedded store: one SQLite file in WAL mode, every acknowledged write durable
/// (`synchronous=FULL`), concurrent writes grouped into one commit (`GroupCommit`).
public final class SQLiteStore: Store {
    let pool: DatabasePool
    private let commits: GroupCommit
    public let path: String
    /// Decoded jobs by id, each valid for its version: a reconciler pass looks at the same
    /// waiting jobs again and again, and decoding them is most of what a pass costs.
    private let decodedJobs = Mutex<[String: Job]>([:])

    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw BerthError(.system, "cannot open the store \(path): \(error)")
        }
        // GRDB sets `synchronous = NORMAL` on the writer when it turns WAL on, after
        // `prepareDatabase` has run: set FULL again, on the writer, where commits happen.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        commits = GroupCommit(writer: pool)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO meta VALUES ('revision', 0), ('epoch', 0);
                CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch INTEGER NOT NULL, expires_at INTEGER NOT NULL);
                CREATE TABLE tenants (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, uid INTEGER NOT NULL UNIQUE,
                    quota TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, release_at INTEGER);
                CREATE TABLE tokens (
                    hash TEXT PRIMARY KEY, tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE, created_at INTEGER NOT NULL);
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
                    body TEXT NOT NULL, desired TEXT NOT NULL, phase TEXT NOT NULL, version INTEGER NOT NULL,
                    cpu INTEGER NOT NULL, memory INTEGER NOT NULL, io INTEGER NOT NULL, pids INTEGER,
                    UNIQUE (tenant_id, name));
                CREATE INDEX jobs_phase ON jobs (phase, desired);
                CREATE TABLE idempotency (
                    tenant_id TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL, spec TEXT NOT NULL, created_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, key));
                CREATE TABLE runs (
                    id TEXT PRIMARY KEY, job_id TEXT NOT NULL, tenant_id TEXT NOT NULL, node TEXT NOT NULL,
                    state TEXT NOT NULL, started_at INTEGER NOT NULL, body TEXT NOT NULL);
                CREATE INDEX runs_job ON runs (job_id, started_at);
                CREATE INDEX runs_active ON runs (node, state);
                CREATE TABLE events (
                    revision INTEGER NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
                    tenant_id TEXT NOT NULL, job_id TEXT, run_id TEXT, kind TEXT NOT NULL, message TEXT NOT NULL);
                CREATE INDEX events_job ON events (job_id, revision);
                """)
        }
        // What a reconciler pass reads, as partial indexes: a pass costs what waits or
        // leaves, never a scan of every job (the queries repeat these conditions verbatim,
        // which is how SQLite matches a partial index).
        m.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE INDEX jobs_leaving ON jobs (desired) WHERE \(Self.leaving);
                CREATE INDEX jobs_waiting ON jobs (tenant_id) WHERE \(Self.waiting);
                """)
        }
        // A tenant's admitted jobs, summed inside the transaction that admits one more.
        m.registerMigration("v3") { db in
            try db.execute(sql: "CREATE INDEX jobs_admitted ON jobs (tenant_id) WHERE \(Self.admitted)")
        }
        return m
    }

    /// The writer's `PRAGMA synchronous` (2: FULL, every commit synced before it is acknowledged).
    public func writerSynchronous() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db.cachedStatement(sql: "PRAGMA synchronous")) ?? -1 }
    }

    // MARK: - Transactions

    /// Runs `body` in the next group commit, after checking the fencing epoch (0: no check,
    /// for the operator's own first writes), and bumps the revision. `body` gets the new revision.
    func write<T: Sendable>(epoch: Int64, _ body: @escaping @Sendable (Database, Int64) throws -> T) async throws -> T {
        try await commits.write { db in
            if epoch != 0 {
                let current = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'epoch'")) ?? 0
                if current != epoch { throw StoreError.fenced(current: current, mine: epoch) }
            }
            try db.cachedStatement(sql: "UPDATE meta SET value = value + 1 WHERE key = 'revision'").execute()
            let revision = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'revision'")) ?? 0
            return try body(db, revision)
        }
    }

    /// Reads run on the caller's thread: a read is a few B-tree lookups in the page cache, and
    /// a hop to a reader's dispatch queue and back costs more than the read (two thread
    /// switches on every call). Readers never wait on the writer (WAL).
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try readHere(body)
    }

    private func readHere<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    static let dbNow = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

    public func now() async throws -> Int64 {
        try await read { db in try Self.clock(db) }
    }

    /// The database's clock, in ms: leases and timestamps never depend on this process's clock.
    static func clock(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT \(dbNow)")) ?? 0
    }

    public func acquireLease(_ name: String, holder: String, ttlMillis: Int, takeOver: Bool) async throws -> Int64? {
        try await commits.write { db in
            let now = try Self.clock(db)
            let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT holder, epoch, expires_at FROM leases WHERE name = ?"), arguments: [name])
            if let row {
                let current: String = row["holder"]
                let expires: Int64 = row["expires_at"]
                if current == holder {
                    try db.cachedStatement(sql: "UPDATE leases SET expires_at = ? WHERE name = ?").execute(arguments: [now + Int64(ttlMillis), name])
                    return row["epoch"] as Int64
                }
                if expires > now && !takeOver { return nil }
            }
            // A new holder: the fencing epoch moves on, so the previous holder's writes fail.
            try db.cachedStatement(sql: "UPDATE meta SET value = value + 1 WHERE key = 'epoch'").execute()
            let epoch = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'epoch'")) ?? 0
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO leases (name, holder, epoch, expires_at) VALUES (?, ?, ?, ?)").execute(
                           arguments: [name, holder, epoch, now + Int64(ttlMillis)])
            return Optional(epoch)
        }
    }

    // MARK: - Tenants

    public func createTenant(name: String, uidRange: ClosedRange<UInt32>, uidTaken: @escaping @Sendable (UInt32) -> Bool,
                             tokenHash: String, epoch: Int64) async throws -> Tenant {
        try await write(epoch: epoch) { db, revision in
            if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM tenants WHERE name = ?"), arguments: [name]) == true {
                throw StoreError.conflict(field: "name", message: "name: a tenant named \(name) already exists")
            }
            let used = Set(try Int64.fetchAll(db.cachedStatement(sql: "SELECT uid FROM tenants")).map { UInt32(truncatingIfNeeded: $0) })
            var uid: UInt32?
            // Random probes first (ids say nothing about creation order), then a scan.
            for _ in 0..<64 {
                let candidate = UInt32.random(in: uidRange)
                if !used.contains(candidate) && !uidTaken(candidate) { uid = candidate; break }
            }
            if uid == nil { uid = uidRange.first { !used.contains($0) && !uidTaken($0) } }
            guard let uid else {
                throw StoreError.conflict(field: "uid-range", message: "uid-range: no free uid left in \(uidRange.lowerBound)-\(uidRange.upperBound)")
            }
            var id = TenantID.random().rawValue
            while try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM tenants WHERE id = ?"), arguments: [id]) == true { id = TenantID.random().rawValue }
            let now = try Self.clock(db)
            let tenant = Tenant(id: id, name: name, uid: uid, quota: Quota(), createdAt: now)
            try db.cachedStatement(sql: "INSERT INTO tenants (id, name, uid, quota, state, created_at) VALUES (?, ?, ?, ?, 'active', ?)").execute(
                           arguments: [id, name, Int64(uid), try Self.json(tenant.quota), now])
            try db.cachedStatement(sql: "INSERT INTO tokens (hash, tenant_id, created_at) VALUES (?, ?, ?)").execute(arguments: [tokenHash, id, now])
            try Self.insertEvent(db, Event(revision: revision, at: now, tenantID: id, jobID: nil, runID: nil, kind: "tenant",
                                           message: "tenant \(name) created with uid \(uid)"))
            return tenant
        }
    }

    public func tenants() async throws -> [Tenant] {
        try await read { db in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM tenants ORDER BY name")).map(Self.tenant) }
    }

    public func tenant(named name: String) async throws -> Tenant? {
        try await read { db in try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM tenants WHERE name = ?"), arguments: [name]).map(Self.tenant) }
    }

    public func tenant(id: String) async throws -> Tenant? {
        try await read { db in try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM tenants WHERE id = ?"), arguments: [id]).map(Self.tenant) }
    }

    public func setQuota(tenant name: String, quota: Quota, epoch: Int64) async throws -> Tenant {
        try await write(epoch: epoch) { db, revision in
            guard var tenant = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM tenants WHERE name = ?"), arguments: [name]).map(Self.tenant) else {
                throw StoreError.notFound("tenant \(name)")
            }
            tenant.quota = quota
            try db.cachedStatement(sql: "UPDATE tenants SET quota = ? WHERE id = ?").execute(arguments: [try Self.json(quota), tenant.id])
            let now = try Self.clock(db)
            try Self.insertEvent(db, Event(revision: revision, at: now, tenantID: tenant.id, jobID: nil, runID: nil, kind: "quota",
                                           message: "quota set"))
            return tenant
        }
    }

    public func removeTenant(named name: String, releaseAt: Int64, epoch: Int64) async throws -> Tenant {
        try await write(epoch: epoch) { db, revision in
            guard var tenant = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM tenants WHERE name = ?"), arguments: [name]).map(Self.tenant) else {
                throw StoreError.notFound("tenant \(name)")
            }
            tenant.state = "removing"
            tenant.releaseAt = releaseAt
            try db.cachedStatement(sql: "UPDATE tenants SET state = 'removing', release_at = ? WHERE id = ?").execute(arguments: [releaseAt, tenant.id])
            try db.cachedStatement(sql: "DELETE FROM tokens WHERE tenant_id = ?").execute(arguments: [tenant.id])
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT body FROM jobs WHERE tenant_id = ?"), arguments: [tenant.id]) {
                var job: Job = try Self.decode(row["body"])
                job.desired = .removed
                job.version += 1
                try Self.writeJob(db, job)
            }
            let now = try Self.clock(db)
            try Self.insertEvent(db, Event(revision: revision, at: now, tenantID: tenant.id, jobID: nil, runID: nil, kind: "tenant",
                                           message: "tenant \(name) removed; its jobs stop, its resources are released after the grace period"))
            return tenant
        }
    }

    public func deleteTenant(id: String, epoch: Int64) async throws {
        try await write(epoch: epoch) { db, _ in
            if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE tenant_id = ?"), arguments: [id]) == true {
                throw StoreError.conflict(field: "tenant", message: "tenant \(id) still has jobs")
            }
            try db.cachedStatement(sql: "DELETE FROM idempotency WHERE tenant_id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM runs WHERE tenant_id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM events WHERE tenant_id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM tenants WHERE id = ?").execute(arguments: [id])
        }
    }

    public func addToken(tenant name: String?, hash: String, epoch: Int64) async throws {
        try await write(epoch: epoch) { db, _ in
            var tenantID: String?
            if let name {
                guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, state FROM tenants WHERE name = ?"), arguments: [name]),
                      (row["state"] as String) == "active" else {
                    throw StoreError.notFound("tenant \(name)")
                }
                tenantID = row["id"]
            }
            let now = try Self.clock(db)
            try db.cachedStatement(sql: "INSERT INTO tokens (hash, tenant_id, created_at) VALUES (?, ?, ?)").execute(arguments: [hash, tenantID, now])
        }
    }

    public func principal(tokenHash: String) async throws -> Principal? {
        try await read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT tokens.tenant_id AS id, tenants.name AS name FROM tokens LEFT JOIN tenants ON tenants.id = tokens.tenant_id
                WHERE tokens.hash = ?
                """), arguments: [tokenHash]) else { return nil }
            guard let id: String = row["id"] else { return .operator }
            guard let name: String = row["name"] else { return nil }
            return .tenant(id: id, name: name)
        }
    }

    // MARK: - Jobs

    public func submit(tenantID: String, spec: JobSpec, idempotencyKey: String?, epoch: Int64,
                       startAtOnce: StartAtOnce?) async throws -> (job: Job, created: Bool) {
        let specJSON = try idempotencyKey.map { _ in try Self.json(spec) }
        let submitted = try await write(epoch: epoch) { db, revision -> (job: Job, created: Bool) in
            if let key = idempotencyKey,
               let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT job_id, spec FROM idempotency WHERE tenant_id = ? AND key = ?"), arguments: [tenantID, key]) {
                guard (row["spec"] as String) == specJSON else {
                    throw StoreError.conflict(field: "Idempotency-Key", message: "Idempotency-Key: already used for a different spec")
                }
                let jobID: String = row["job_id"]
                if let body = try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM jobs WHERE id = ?"), arguments: [jobID]) {
                    return (try Self.decode(body) as Job, false)
                }
                throw StoreError.conflict(field: "Idempotency-Key", message: "Idempotency-Key: its job \(jobID) was removed since")
            }
            if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE tenant_id = ? AND name = ?"), arguments: [tenantID, spec.name]) == true {
                throw StoreError.conflict(field: "name", message: "name: this tenant already has a job named \(spec.name); remove it first or choose another name")
            }
            guard let tenantRow = try Row.fetchOne(db.cachedStatement(sql: "SELECT state, quota FROM tenants WHERE id = ?"), arguments: [tenantID]),
                  (tenantRow["state"] as String) == "active" else {
                throw StoreError.notFound("tenant \(tenantID)")
            }
            let now = try Self.clock(db)
            var id = JobID().rawValue
            while try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE id = ?"), arguments: [id]) == true { id = JobID().rawValue }
            var job = Job(id: id, tenantID: tenantID, spec: spec, reason: "waiting for the reconciler", createdAt: now, updatedAt: now)
            // Started at once only when no older pending job of the tenant waits (a queue stays
            // in order; a job in backoff is passed over, as a pass does) and it fits. Otherwise it
            // is stored with the reason it waits, which a pass would record.
            var run: Run?
            if let start = startAtOnce {
                if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE tenant_id = ? AND \(Self.waiting) AND phase = 'pending' LIMIT 1"),
                                     arguments: [tenantID]) == true {
                    job.reason = "queued behind older jobs of this tenant"
                } else if let reason = start.rule.verdict(spec.demand(defaultPids: start.rule.defaultPids),
                                                          try Self.admittedDemand(db, tenantID: tenantID, defaultPids: start.rule.defaultPids, excluding: id),
                                                          try Self.decode(tenantRow["quota"])) {
                    job.reason = reason
                } else {
                    job.phase = .starting
                    job.reason = nil
                    job.currentRun = start.runID
                    run = Run(id: start.runID, jobID: id, tenantID: tenantID, node: start.node, startedAt: now)
                }
            }
            try Self.writeJob(db, job, insert: true)
            if let key = idempotencyKey {
                try db.cachedStatement(sql: "INSERT INTO idempotency (tenant_id, key, job_id, spec, created_at) VALUES (?, ?, ?, ?, ?)").execute(
                               arguments: [tenantID, key, id, specJSON, now])
            }
            try Self.insertEvent(db, Event(revision: revision, at: now, tenantID: tenantID, jobID: id, runID: nil, kind: "submitted",
                                           message: "submitted (\(spec.kind.rawValue))"))
            if let run {
                try Self.saveRun(db, run)
                try Self.insertEvent(db, Event(revision: revision, at: now, tenantID: tenantID, jobID: id, runID: run.id, kind: "starting",
                                               message: "run \(run.id) starting"))
            }
            return (job, true)
        }
        if submitted.created { remember(submitted.job) }
        return submitted
    }

    public func jobs(tenantID: String?) async throws -> [Job] {
        try await read { db in
            // A cursor: a row's body is read (and decoded) only when its version is not kept.
            let rows = if let tenantID {
                try Row.fetchCursor(db.cachedStatement(sql: "SELECT id, version, body FROM jobs WHERE tenant_id = ? ORDER BY rowid"), arguments: [tenantID])
            } else {
                try Row.fetchCursor(db.cachedStatement(sql: "SELECT id, version, body FROM jobs ORDER BY rowid"))
            }
            return try Array(rows.map { try self.decodeJob($0) })
        }
    }

    public func job(id: String) async throws -> Job? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT id, version, body FROM jobs WHERE id = ?"), arguments: [id]).map { try self.decodeJob($0) }
        }
    }

    public func job(tenantID: String, name: String) async throws -> Job? {
        try await read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM jobs WHERE tenant_id = ? AND name = ?"), arguments: [tenantID, name]).map { try Self.decode($0) }
        }
    }

    /// Jobs whose desired state is not `running` and that still need an action.
    static let leaving = "desired != 'running' AND (phase NOT IN ('stopped', 'succeeded', 'failed') OR desired = 'removed')"
    /// Jobs waiting to be started.
    static let waiting = "desired = 'running' AND phase IN ('pending', 'backoff')"

    public func jobsToReconcile(pendingPerTenant: Int, defaultPids: Int) async throws -> [(job: Job, demand: Demand)] {
        try await read { db in
            let columns = "id, version, body, \(Self.demandColumns)"
            var rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT \(columns) FROM jobs WHERE \(Self.leaving)"), arguments: [defaultPids])
            let waiting = try db.cachedStatement(sql: "SELECT \(columns) FROM jobs WHERE tenant_id = ? AND \(Self.waiting) ORDER BY rowid LIMIT ?")
            for tenant in try String.fetchAll(db.cachedStatement(sql: "SELECT id FROM tenants")) {
                rows += try Row.fetchAll(waiting, arguments: [defaultPids, tenant, pendingPerTenant])
            }
            return try rows.map { (try self.decodeJob($0), Self.demand($0)) }
        }
    }

    public func hasWaitingJobs(tenantID: String) async throws -> Bool {
        try await read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE tenant_id = ? AND \(Self.waiting) LIMIT 1"), arguments: [tenantID]) == true
        }
    }

    public func admittedDemand(defaultPids: Int, excluding: Set<String>) async throws -> [String: Demand] {
        try await read { db in
            var out: [String: Demand] = [:]
            let rows = try Row.fetchCursor(db.cachedStatement(sql: """
                SELECT id, tenant_id, \(Self.demandColumns) FROM jobs WHERE \(Self.admitted)
                """), arguments: [defaultPids])
            while let row = try rows.next() {
                let id: String = row[0], tenant: String = row[1]
                if excluding.contains(id) { continue }
                out[tenant, default: Demand()] = out[tenant, default: Demand()] + Self.demand(row)
            }
            return out
        }
    }

    /// What the tenant's admitted jobs declare, read inside the caller's transaction (`excluding`:
    /// the job being admitted).
    static func admittedDemand(_ db: Database, tenantID: String, defaultPids: Int, excluding: String) throws -> Demand {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT \(demandColumns) FROM jobs WHERE tenant_id = ? AND id != ? AND \(admitted)
            """), arguments: [defaultPids, tenantID, excluding])
        var used = Demand()
        while let row = try rows.next() { used = used + demand(row) }
        return used
    }

    /// Jobs that count against their tenant's quota.
    static let admitted = "phase IN ('starting', 'running', 'stopping')"

    /// What a job declares, as the columns written at submission (one argument: the host's
    /// default pids, for a spec that is silent). Always the last four columns selected.
    static let demandColumns = "cpu, memory, io, COALESCE(pids, ?) AS pids"

    /// Read by position: a lookup by name lowercases and compares each column's name, which
    /// cost more than the rest of a pass's arithmetic.
    static func demand(_ row: Row) -> Demand {
        let n = row.count
        var d = Demand()
        d.cpuMicrocores = row[n - 4]
        d.memoryBytes = row[n - 3]
        d.ioBytesPerSecond = row[n - 2]
        d.pids = row[n - 1]
        d.jobs = 1
        return d
    }

    public func update(_ job: Job, event: Event?, epoch: Int64) async throws -> Job {
        try await write(epoch: epoch) { db, revision in
            guard let stored = try Int64.fetchOne(db.cachedStatement(sql: "SELECT version FROM jobs WHERE id = ?"), arguments: [job.id]) else {
                throw StoreError.notFound("job \(job.id)")
            }
            guard stored == job.version else { throw StoreError.versionConflict("job \(job.id)") }
            var job = job
            job.version += 1
            let now = try Self.clock(db)
            job.updatedAt = now
            try Self.writeJob(db, job)
            if var event {
                event.revision = revision
                event.at = now
                try Self.insertEvent(db, event)
            }
            return job
        }
    }

    public func transition(jobID: String, saving run: Run?, epoch: Int64, admitting rule: AdmissionRule?,
                           _ change: @escaping @Sendable (inout Job) throws -> Event?) async throws -> Job? {
        let written = try await write(epoch: epoch) { db, revision -> Job? in
            let columns = rule == nil ? "id, version, body" : "id, version, body, tenant_id, \(Self.demandColumns)"
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM jobs WHERE id = ?"),
                                             arguments: rule.map { [$0.defaultPids, jobID] } ?? [jobID]) else {
                if let run { try Self.saveRun(db, run) }
                return nil
            }
            if let rule {
                let tenantID: String = row[3]
                let quota: Quota = try String.fetchOne(db.cachedStatement(sql: "SELECT quota FROM tenants WHERE id = ?"), arguments: [tenantID])
                    .map { try Self.decode($0) } ?? Quota()
                let used = try Self.admittedDemand(db, tenantID: tenantID, defaultPids: rule.defaultPids, excluding: jobID)
                if let reason = rule.verdict(Self.demand(row), used, quota) { throw StoreError.overQuota(reason) }
            }
            var job = try self.decodeJob(row)
            let event = try change(&job)
            if let run { try Self.saveRun(db, run) }
            guard var event else { return nil }
            job.version += 1
            let now = try Self.clock(db)
            job.updatedAt = now
            try Self.writeJob(db, job)
            event.revision = revision
            event.at = now
            try Self.insertEvent(db, event)
            return job
        }
        if let written { remember(written) }
        return written
    }

    public func deleteJob(id: String, epoch: Int64) async throws {
        try await write(epoch: epoch) { db, revision in
            guard let body = try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM jobs WHERE id = ?"), arguments: [id]) else { return }
            let job: Job = try Self.decode(body)
            guard job.desired == .removed, job.currentRun == nil else {
                throw StoreError.conflict(field: "job", message: "job \(id) is not stopped")
            }
            try db.cachedStatement(sql: "DELETE FROM jobs WHERE id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM runs WHERE job_id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM events WHERE job_id = ?").execute(arguments: [id])
            let now = try Self.clock(db)
            try Self.insertEvent(db, Event(revision: revision, at: now, tenantID: job.tenantID, jobID: nil, runID: nil, kind: "removed",
                                           message: "job \(job.spec.name) (\(id)) removed"))
        }
    }

    // MARK: - Runs

    public func saveRun(_ run: Run, epoch: Int64) async throws {
        try await write(epoch: epoch) { db, _ in try Self.saveRun(db, run) }
    }

    /// Inserts `run`, or replaces its state and body.
    static func saveRun(_ db: Database, _ run: Run) throws {
        try db.cachedStatement(sql: """
            INSERT INTO runs (id, job_id, tenant_id, node, state, started_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body
            """).execute(arguments: [run.id, run.jobID, run.tenantID, run.node, run.state.rawValue, run.startedAt, try json(run)])
    }

    public func runs(jobID: String) async throws -> [Run] {
        try await read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT body FROM runs WHERE job_id = ? ORDER BY started_at DESC, rowid DESC"), arguments: [jobID]).map { try Self.decode($0) }
        }
    }

    public func run(id: String) async throws -> Run? {
        try await read { db in try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM runs WHERE id = ?"), arguments: [id]).map { try Self.decode($0) } }
    }

    public func activeRuns(node: String) async throws -> [Run] {
        try await read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT body FROM runs WHERE node = ? AND state != 'ended'"), arguments: [node]).map { try Self.decode($0) }
        }
    }

    // MARK: - Events

    public func record(_ event: Event, epoch: Int64) async throws {
        try await write(epoch: epoch) { db, revision in
            var event = event
            event.revision = revision
            event.at = try Self.clock(db)
            try Self.insertEvent(db, event)
        }
    }

    public func events(jobID: String, after revision: Int64, limit: Int) async throws -> [Event] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT * FROM (SELECT * FROM events WHERE job_id = ? AND revision > ? ORDER BY seq DESC LIMIT ?) ORDER BY seq
                """), arguments: [jobID, revision, limit]).map(Self.event)
        }
    }

    public func revision() async throws -> Int64 {
        try await read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'revision'")) ?? 0 }
    }

    public func prune(_ policy: RetentionPolicy) async throws -> Int {
        try await commits.write { db in
            let cutoff = (try Self.clock(db)) - policy.maxAgeMillis
            var removed = 0
            try db.cachedStatement(sql: """
                DELETE FROM runs WHERE state = 'ended' AND (started_at < ? OR id IN (
                    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY started_at DESC) AS n
                                    FROM runs WHERE state = 'ended') WHERE n > ?))
                """).execute(arguments: [cutoff, policy.runsPerJob])
            removed += db.changesCount
            try db.cachedStatement(sql: """
                DELETE FROM events WHERE at < ? OR seq IN (
                    SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY seq DESC) AS n
                                     FROM events WHERE job_id IS NOT NULL) WHERE n > ?)
                """).execute(arguments: [cutoff, policy.eventsPerJob])
            removed += db.changesCount
            try db.cachedStatement(sql: "DELETE FROM idempotency WHERE created_at < ?").execute(arguments: [cutoff])
            return removed
        }
    }

    // MARK: - Rows

    static func writeJob(_ db: Database, _ job: Job, insert: Bool = false) throws {
        let body = try json(job)
        if insert {
            // What the job declares, as columns: the quota's sums are then one query, no decoding.
            let d = job.spec.demand(defaultPids: 0)
            try db.cachedStatement(sql: """
                INSERT INTO jobs (id, tenant_id, name, body, desired, phase, version, cpu, memory, io, pids)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [job.id, job.tenantID, job.spec.name, body, job.desired.rawValue, job.phase.rawValue, job.version,
                                 d.cpuMicrocores, d.memoryBytes, d.ioBytesPerSecond, d.pids == 0 ? nil : d.pids])
        } else {
            try db.cachedStatement(sql: "UPDATE jobs SET body = ?, desired = ?, phase = ?, version = ? WHERE id = ?").execute(
                           arguments: [body, job.desired.rawValue, job.phase.rawValue, job.version, job.id])
        }
    }

    static func insertEvent(_ db: Database, _ e: Event) throws {
        try db.cachedStatement(sql: "INSERT INTO events (revision, at, tenant_id, job_id, run_id, kind, message) VALUES (?, ?, ?, ?, ?, ?, ?)").execute(
                       arguments: [e.revision, e.at, e.tenantID, e.jobID, e.runID, e.kind, e.message])
    }

    static func tenant(_ row: Row) throws -> Tenant {
        Tenant(id: row["id"], name: row["name"], uid: UInt32(truncatingIfNeeded: row["uid"] as Int64), quota: try decode(row["quota"]),
               state: row["state"], createdAt: row["created_at"], releaseAt: row["release_at"])
    }

    static func event(_ row: Row) -> Event {
        Event(revision: row["revision"], at: row["at"], tenantID: row["tenant_id"], jobID: row["job_id"], runID: row["run_id"],
              kind: row["kind"], message: row["message"])
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A row's job (`id`, `version`, `body`), decoded once per version.
    /// A job from a row whose first columns are `id, version, body`.
    func decodeJob(_ row: Row) throws -> Job {
        let id: String = row[0], version: Int64 = row[1]
        if let job = decodedJobs.withLock({ $0[id] }), job.version == version { return job }
        let job: Job = try Self.decode(row[2] as String)
        remember(job)
        return job
    }

    /// Keeps a decoded or committed job: a version's content never changes once committed
    /// (every write bumps it), so the next read of that version needs no decoding. Only
    /// committed versions go in: a rolled-back write's version may be committed later with
    /// other content.
    func remember(_ job: Job) {
        decodedJobs.withLock { cache in
            if cache.count >= 20_000 { cache.removeAll(keepingCapacity: true) }
            cache[job.id] = job
        }
    }

    static func decode<T: Decodable>(_ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
