import BerthCore
import BerthStore
import FoundationEssentials
import Testing

/// The embedded store against a real SQLite file in a temporary directory.
@Suite struct SQLiteStoreTests {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.path + "/berth-store-\(UInt64.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func open() throws -> SQLiteStore { try SQLiteStore(path: dir + "/berth.db") }

    func tenant(_ store: SQLiteStore, _ name: String = "team-a", epoch: Int64 = 0) async throws -> Tenant {
        try await store.createTenant(name: name, uidRange: 200_000...200_100, uidTaken: { _ in false }, tokenHash: "h-\(name)", epoch: epoch)
    }

    func spec(_ name: String) -> JobSpec { JobSpec(name: name, command: ["/bin/true"]) }

    @Test func tenantsGetDistinctUidsAndTokensResolve() async throws {
        let store = try open()
        let a = try await tenant(store, "a")
        let b = try await tenant(store, "b")
        #expect(a.uid != b.uid)
        #expect(a.id != b.id && TenantID(a.id) != nil)
        #expect(try await store.principal(tokenHash: "h-a") == .tenant(id: a.id, name: "a"))
        #expect(try await store.principal(tokenHash: "nope") == nil)
        await #expect(throws: StoreError.self) { _ = try await tenant(store, "a") }
        // A uid the host's files take is never given.
        let c = try await store.createTenant(name: "c", uidRange: 200_000...200_002, uidTaken: { $0 != 200_002 && $0 != a.uid && $0 != b.uid }, tokenHash: "h-c", epoch: 0)
        #expect(c.uid == 200_002 || (c.uid != a.uid && c.uid != b.uid && c.uid == 200_002))
    }

    @Test func idempotencyKeyReturnsTheSameJobAndRefusesAnotherSpec() async throws {
        let store = try open()
        let t = try await tenant(store)
        let first = try await store.submit(tenantID: t.id, spec: spec("x"), idempotencyKey: "k1", epoch: 0)
        let again = try await store.submit(tenantID: t.id, spec: spec("x"), idempotencyKey: "k1", epoch: 0)
        #expect(first.created && !again.created)
        #expect(first.job.id == again.job.id)
        await #expect(throws: StoreError.self) { _ = try await store.submit(tenantID: t.id, spec: spec("y"), idempotencyKey: "k1", epoch: 0) }
        // Names are unique per tenant.
        await #expect(throws: StoreError.self) { _ = try await store.submit(tenantID: t.id, spec: spec("x"), idempotencyKey: nil, epoch: 0) }
        #expect(try await store.jobs(tenantID: t.id).count == 1)
    }

    @Test func updatesAreCompareAndSet() async throws {
        let store = try open()
        let t = try await tenant(store)
        let job = try await store.submit(tenantID: t.id, spec: spec("x"), idempotencyKey: nil, epoch: 0).job
        var a = job, b = job
        a.phase = .running
        b.phase = .failed
        let stored = try await store.update(a, event: nil, epoch: 0)
        #expect(stored.version == job.version + 1)
        await #expect(throws: StoreError.versionConflict("job \(job.id)")) { _ = try await store.update(b, event: nil, epoch: 0) }
        #expect(try await store.job(id: job.id)?.phase == .running)
    }

    @Test func aNewLeaseHolderFencesTheOldOne() async throws {
        let store = try open()
        let first = try #require(try await store.acquireLease("leader", holder: "a", ttlMillis: 50))
        #expect(try await store.acquireLease("leader", holder: "b", ttlMillis: 50) == nil)
        #expect(try await store.acquireLease("leader", holder: "a", ttlMillis: 50) == first)
        try await Task.sleep(for: .milliseconds(120))
        let second = try #require(try await store.acquireLease("leader", holder: "b", ttlMillis: 10_000))
        #expect(second > first)
        await #expect(throws: StoreError.fenced(current: second, mine: first)) { _ = try await tenant(store, "late", epoch: first) }
        _ = try await tenant(store, "ok", epoch: second)
    }

    @Test func concurrentWritesAreGroupedDurableAndInRevisionOrder() async throws {
        let t: Tenant
        do {
            let store = try open()
            t = try await tenant(store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<300 {
                    group.addTask { _ = try await store.submit(tenantID: t.id, spec: spec("job-\(i)"), idempotencyKey: "k\(i)", epoch: 0) }
                }
                try await group.waitForAll()
            }
        }
        // Reopened: every acknowledged write is there, each with its own revision.
        let store = try open()
        let jobs = try await store.jobs(tenantID: t.id)
        #expect(jobs.count == 300)
        var revisions = Set<Int64>()
        for job in jobs { for e in try await store.events(jobID: job.id, after: 0, limit: 10) { revisions.insert(e.revision) } }
        #expect(revisions.count == 300)
        #expect(try await store.revision() >= 301)
    }

    @Test func oneFailingWriteDoesNotSinkItsBatch() async throws {
        let store = try open()
        let t = try await tenant(store)
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<50 {
                // Every fifth one reuses a name: refused alone, the others land.
                group.addTask { (try? await store.submit(tenantID: t.id, spec: spec(i % 5 == 0 ? "dup" : "j\(i)"), idempotencyKey: nil, epoch: 0)) != nil }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 41)
        #expect(try await store.jobs(tenantID: t.id).count == 41)
    }

    @Test func pruneKeepsTheNewestRunsAndEvents() async throws {
        let store = try open()
        let t = try await tenant(store)
        let job = try await store.submit(tenantID: t.id, spec: spec("x"), idempotencyKey: nil, epoch: 0).job
        for i in 0..<30 {
            var run = Run(id: RunID().rawValue, jobID: job.id, tenantID: t.id, node: "n", startedAt: Int64(1_700_000_000_000 + i))
            run.state = .ended
            try await store.saveRun(run, epoch: 0)
        }
        var policy = RetentionPolicy()
        policy.runsPerJob = 5
        policy.maxAgeMillis = 1 << 50
        _ = try await store.prune(policy)
        #expect(try await store.runs(jobID: job.id).count == 5)
    }

    /// GRDB turns WAL on with `synchronous = NORMAL`; the store must end up FULL, or an
    /// acknowledged submission could be lost with the machine's power.
    @Test func everyCommitIsSynced() async throws {
        let store = try open()
        #expect(try store.writerSynchronous() == 2)
    }

    @Test func aTransitionReadsAndWritesInOneTransaction() async throws {
        let store = try open()
        let t = try await tenant(store)
        let job = try await store.submit(tenantID: t.id, spec: spec("x"), idempotencyKey: nil, epoch: 0).job
        let run = Run(id: RunID().rawValue, jobID: job.id, tenantID: t.id, node: "n", startedAt: 1)
        // A change that throws writes nothing, not even the run.
        await #expect(throws: StoreError.self) {
            _ = try await store.transition(jobID: job.id, saving: run, epoch: 0) { _ in throw StoreError.versionConflict("x") }
        }
        #expect(try await store.run(id: run.id) == nil)
        // Twenty concurrent increments: none lost, each with its event.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    _ = try await store.transition(jobID: job.id, saving: nil, epoch: 0) { j in
                        j.restarts += 1
                        return Event(at: 0, tenantID: j.tenantID, jobID: j.id, runID: nil, kind: "bump", message: "bump")
                    }
                }
            }
            try await group.waitForAll()
        }
        let after = try await store.job(id: job.id)
        #expect(after?.restarts == 20 && after?.version == job.version + 20)
        #expect(try await store.events(jobID: job.id, after: 0, limit: 100).filter { $0.kind == "bump" }.count == 20)
        // nil: the job is left as it is, but the run is saved.
        let same = try await store.transition(jobID: job.id, saving: run, epoch: 0) { _ in nil }
        #expect(same == nil)
        #expect(try await store.run(id: run.id)?.id == run.id)
        #expect(try await store.job(id: job.id)?.version == job.version + 20)
    }

    @Test func admittedDemandLeavesOutWhatTheCallerCounts() async throws {
        let store = try open()
        let t = try await tenant(store)
        var ids: [String] = []
        for name in ["a", "b"] {
            var s = spec(name)
            s.resources.cpu = "0.5"
            let job = try await store.submit(tenantID: t.id, spec: s, idempotencyKey: nil, epoch: 0).job
            _ = try await store.transition(jobID: job.id, saving: nil, epoch: 0) { j in
                j.phase = .running
                return Event(at: 0, tenantID: j.tenantID, jobID: j.id, runID: nil, kind: "started", message: "")
            }
            ids.append(job.id)
        }
        #expect(try await store.admittedDemand(defaultPids: 10)[t.id]?.cpuMicrocores == 1_000_000)
        #expect(try await store.admittedDemand(defaultPids: 10, excluding: [ids[0]])[t.id]?.cpuMicrocores == 500_000)
        #expect(try await store.admittedDemand(defaultPids: 10, excluding: Set(ids))[t.id] == nil)
    }

    /// Admission by a jobs quota, as the reconciler's rule words it.
    let jobsRule = AdmissionRule(defaultPids: 0) { demand, used, quota in
        quota.jobs.map { used.jobs + demand.jobs > $0 } == true ? "jobs \(used.jobs) of \(quota.jobs ?? 0)" : nil
    }

    func starting(_ j: inout Job, _ run: String) -> Event {
        j.phase = .starting
        j.currentRun = run
        return Event(at: 0, tenantID: j.tenantID, jobID: j.id, runID: run, kind: "starting", message: "")
    }

    func succeeded(_ j: inout Job) -> Event {
        j.phase = .succeeded
        j.currentRun = nil
        return Event(at: 0, tenantID: j.tenantID, jobID: j.id, runID: nil, kind: "succeeded", message: "")
    }

    /// A tenant with a quota of `jobs` jobs.
    func tenant(_ store: SQLiteStore, jobs: Int) async throws -> Tenant {
        let t = try await tenant(store)
        var quota = Quota()
        quota.jobs = jobs
        return try await store.setQuota(tenant: t.name, quota: quota, epoch: 0)
    }

    @Test func aSubmissionThatFitsStartsInItsOwnCommitAndAQueueKeepsItsOrder() async throws {
        let store = try open()
        let t = try await tenant(store, jobs: 2)
        func submit(_ name: String) async throws -> Job {
            try await store.submit(tenantID: t.id, spec: spec(name), idempotencyKey: nil, epoch: 0,
                                   startAtOnce: StartAtOnce(node: "n1", runID: "r-" + name, rule: jobsRule)).job
        }
        let a = try await submit("a"), b = try await submit("b")
        #expect(a.phase == .starting && a.currentRun == "r-a" && b.phase == .starting)
        let runA = try await store.run(id: "r-a")
        #expect(runA?.state == .starting && runA?.node == "n1")
        #expect(try await store.events(jobID: a.id, after: 0, limit: 10).map(\.kind) == ["submitted", "starting"])
        // The quota is taken: the next waits with the reason a pass would give, and no run.
        let c = try await submit("c")
        #expect(c.phase == .pending && c.currentRun == nil && c.reason == "jobs 2 of 2")
        #expect(try await store.run(id: "r-c") == nil)
        // What a run's end asks before it wakes a pass: does anything of the tenant wait?
        #expect(try await store.hasWaitingJobs(tenantID: t.id))
        let other = try await tenant(store, "team-b")
        #expect(try await store.hasWaitingJobs(tenantID: other.id) == false)
        // A job is never started ahead of an older pending one, fits or not.
        _ = try await store.transition(jobID: a.id, saving: nil, epoch: 0) { j in succeeded(&j) }
        let d = try await submit("d")
        #expect(d.phase == .pending && d.reason == "queued behind older jobs of this tenant")
    }

    @Test func anAdmissionIsCheckedInsideItsTransaction() async throws {
        let store = try open()
        let t = try await tenant(store, jobs: 1)
        let waiting = try await store.submit(tenantID: t.id, spec: spec("waiting"), idempotencyKey: nil, epoch: 0).job
        // Another admission (a submission started at once) takes the quota after a pass read it:
        // the pass's start is refused in its own transaction, and nothing of it is written.
        let taker = try await store.submit(tenantID: t.id, spec: spec("taker"), idempotencyKey: nil, epoch: 0).job
        _ = try await store.transition(jobID: taker.id, saving: nil, epoch: 0, admitting: jobsRule) { j in starting(&j, "r-taker") }
        let run = Run(id: "r-late", jobID: waiting.id, tenantID: t.id, node: "n1", startedAt: 0)
        await #expect(throws: StoreError.overQuota("jobs 1 of 1")) {
            _ = try await store.transition(jobID: waiting.id, saving: run, epoch: 0, admitting: jobsRule) { j in starting(&j, "r-late") }
        }
        #expect(try await store.run(id: "r-late") == nil)
        #expect(try await store.job(id: waiting.id)?.phase == .pending)
        // The job being admitted is not counted against itself: once the taker ends, it fits.
        _ = try await store.transition(jobID: taker.id, saving: nil, epoch: 0) { j in succeeded(&j) }
        let admitted = try await store.transition(jobID: waiting.id, saving: run, epoch: 0, admitting: jobsRule) { j in starting(&j, "r-late") }
        #expect(admitted?.phase == .starting && admitted?.currentRun == "r-late")
        #expect(try await store.run(id: "r-late") != nil)
    }
}
