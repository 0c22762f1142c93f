#if canImport(Glibc)
import Glibc
#endif
import BerthAgent
import BerthCore
import BerthIsolation
import BerthStore
import FoundationEssentials
import Logging
import ServiceLifecycle

/// Drives reality toward the store's desired state: admits pending jobs, starts, stops and
/// restarts runs with backoff, records each run's real ending. Every action is idempotent and
/// recorded as an event with its reason; the store is read afresh on every pass, so a restarted
/// daemon simply carries on.
public actor Reconciler: Service {
    let store: any Store
    let agent: Agent
    let epoch: Int64
    let makeRunSpec: @Sendable (Job, Tenant, RunID) throws -> RunSpec
    let defaultPids: Int
    let logger: Logger
    /// Wakes the loop before its next tick (a submission, a stop).
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Runs being started right now, by job: a second pass must not start another.
    private var launching: [String: (tenant: String, demand: Demand)] = [:]
    /// The most runs started at once.
    let launchWidth: Int
    private var inFlight = 0

    public init(store: any Store, agent: Agent, epoch: Int64, defaultPids: Int, launchWidth: Int = 8, logger: Logger,
                makeRunSpec: @escaping @Sendable (Job, Tenant, RunID) throws -> RunSpec) {
        self.store = store
        self.agent = agent
        self.epoch = epoch
        self.defaultPids = defaultPids
        self.launchWidth = launchWidth
        self.logger = logger
        self.makeRunSpec = makeRunSpec
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a pass now.
    public nonisolated func poke() { wake.yield() }

    /// Admission by quota, as the store applies it inside the transaction that admits a job.
    public nonisolated var admissionRule: AdmissionRule {
        AdmissionRule(defaultPids: defaultPids) { demand, used, quota in Admission.check(demand, used: used, quota: quota) }
    }

    /// Launches a job its submission admitted (`StartAtOnce`): stored `starting` with its run
    /// already, so no pass needs to look at it first. A pass leaves it alone while it launches.
    /// `inline`: the caller's request is the only one in progress (see `launch`).
    public func launchSubmitted(_ job: Job, tenant: Tenant, inline: Bool = false) {
        guard let runID = job.currentRun.flatMap(RunID.init), job.phase == .starting, launching[job.id] == nil else { return }
        launching[job.id] = (job.tenantID, job.spec.demand(defaultPids: defaultPids))
        inFlight += 1
        // The store stamped the run with the job's creation time.
        let run = Run(id: runID.rawValue, jobID: job.id, tenantID: job.tenantID, node: agent.node, startedAt: job.createdAt)
        launch(job, tenant: tenant, run: run, inline: inline)
    }

    public func run() async throws {
        try await adoptRuns()
        // On SIGTERM the loops stop; runs go on under their shims, and a restarted daemon
        // re-adopts them.
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.consumeEndings() }
                    group.addTask { try await self.loop() }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch is CancellationError {
            return
        }
    }

    private func loop() async throws {
        var iterator = wakeups.makeAsyncIterator()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var wait = Self.safetyPassMillis
            do {
                if let due = try await pass() {
                    wait = min(wait, max(0, Int(due - nowMillis())))
                }
            } catch let error as StoreError {
                if case .fenced = error { throw error }
                logger.warning("reconcile pass: \(error)")
            } catch {
                logger.warning("reconcile pass: \(error)")
            }
            // Every change pokes (a submission, a stop, a run's end, a quota); otherwise the next
            // pass is when a backoff is due, or the safety pass.
            let tick = Task { [wait] in
                do { try await Task.sleep(for: .milliseconds(wait)) } catch { return }   // cancelled: a poke came first
                self.wake.yield()
            }
            guard await iterator.next() != nil else { tick.cancel(); return }
            tick.cancel()
        }
    }

    private func consumeEndings() async throws {
        for await ended in agent.endings {
            if Task.isCancelled { return }
            var needsPass = true
            do { needsPass = try await handleEnding(ended) } catch { logger.error("recording the end of run \(ended.handle.run): \(error)") }
            if needsPass { wake.yield() }
        }
    }

    // MARK: - One pass

    /// A pass when nothing pokes: catches what no event announced (a tenant's grace period over).
    static let safetyPassMillis = 2_000
    /// Waiting jobs looked at per tenant and pass, oldest first. The rest wait their turn; a
    /// tenant's long queue never hides another tenant's jobs.
    static let pendingPerTenant = 64

    /// One pass over every active job. Returns when the earliest backoff is due, if any.
    @discardableResult
    func pass() async throws -> Int64? {
        let tenants = Dictionary(try await store.tenants().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        try await releaseTenants(tenants.values.filter { $0.state == "removing" })
        let jobs = try await store.jobsToReconcile(pendingPerTenant: Self.pendingPerTenant, defaultPids: defaultPids)
        // Jobs being started count by what this actor holds, whether or not the store has
        // recorded them `starting` yet: once, never twice. A start that ends while the store is
        // read is counted by the store's snapshot or not at all (it failed): never too little.
        let starting = launching
        var used = try await store.admittedDemand(defaultPids: defaultPids, excluding: Set(starting.keys))
        for (_, l) in starting { used[l.tenant] = (used[l.tenant] ?? Demand()) + l.demand }
        let now = nowMillis()
        var due: Int64?
        // Actions other than starts go together at the end of the pass: concurrent writes
        // share one commit, so removing 4,000 jobs costs a few commits, not 4,000.
        var actions: [@Sendable () async throws -> Void] = []
        var lastWait: (tenant: String, demand: Demand, reason: String)?
        for (job, demand) in jobs where launching[job.id] == nil {
            guard let tenant = tenants[job.tenantID] else { continue }
            switch (job.desired, job.phase) {
            case (.running, .pending), (.running, .backoff):
                if job.phase == .backoff, let at = job.nextAttemptAt, at > now {
                    due = min(due ?? at, at)
                    continue
                }
                guard inFlight < launchWidth else { continue }
                // A queue of alike jobs behind one that waits: the same verdict, computed once.
                let verdict: String?
                if let last = lastWait, last.tenant == job.tenantID, last.demand == demand {
                    verdict = last.reason
                } else {
                    verdict = Admission.check(demand, used: used[job.tenantID] ?? Demand(), quota: tenant.quota)
                }
                if let reason = verdict {
                    lastWait = (job.tenantID, demand, reason)
                    if job.phase != .pending || job.reason != reason {
                        actions.append {
                            _ = try? await self.store.transition(jobID: job.id, saving: nil, epoch: self.epoch) { j in
                                guard j.desired == .running, j.phase == .pending || j.phase == .backoff, j.currentRun == nil else { return nil }
                                j.phase = .pending
                                j.reason = reason
                                j.nextAttemptAt = nil
                                return event(j, "pending", reason)
                            }
                        }
                    }
                    continue
                }
                used[job.tenantID] = (used[job.tenantID] ?? Demand()) + demand
                lastWait = nil
                launching[job.id] = (job.tenantID, demand)
                inFlight += 1
                Task { await self.startRun(job, tenant: tenant) }
            case (.stopped, .pending), (.stopped, .backoff), (.removed, .pending), (.removed, .backoff):
                actions.append {
                    try await self.transition(job.id) { j in
                        guard j.desired != .running, j.phase == .pending || j.phase == .backoff else { return nil }
                        j.phase = .stopped
                        j.reason = j.desired == .removed ? "removed" : "stopped by request"
                        j.nextAttemptAt = nil
                        return event(j, "stopped", j.reason ?? "")
                    }
                }
            case (.stopped, .starting), (.stopped, .running), (.removed, .starting), (.removed, .running):
                actions.append { try await self.stopRun(job) }
            case (.removed, _) where job.phase.isFinal && job.currentRun == nil:
                actions.append {
                    try await self.store.deleteJob(id: job.id, epoch: self.epoch)
                    await self.removeLogs(job)
                }
            default:
                break
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for action in actions { group.addTask { try await action() } }
            try await group.waitForAll()
        }
        return due
    }

    /// A removed tenant whose jobs are gone and whose grace period is over is released on this
    /// node (checkpoints, idle cgroup levels, logs), then forgotten: its uid may be given again.
    func releaseTenants(_ removing: [Tenant]) async throws {
        guard !removing.isEmpty else { return }
        let now = try await store.now()
        for tenant in removing where (tenant.releaseAt ?? 0) <= now {
            guard try await store.jobs(tenantID: tenant.id).isEmpty, let id = TenantID(tenant.id) else { continue }
            try agent.releaseTenant(id)
            try await store.deleteTenant(id: tenant.id, epoch: epoch)
            logger.info("tenant \(tenant.name) released: uid \(tenant.uid), its cgroup, checkpoints and logs")
        }
    }

    // MARK: - Actions

    /// Starts a run of `job`: the run is recorded (`starting`) before its shim exists, so a
    /// daemon killed in between finds either the shim's status file or nothing, never a stranger.
    /// The store checks the quota again in that transaction: a submission may have taken it since
    /// this pass read it.
    func startRun(_ job: Job, tenant: Tenant) async {
        let runID = RunID()
        let run = Run(id: runID.rawValue, jobID: job.id, tenantID: job.tenantID, node: agent.node, startedAt: nowMillis())
        let starting: Job
        do {
            let id = runID.rawValue
            guard let j = try await store.transition(jobID: job.id, saving: run, epoch: epoch, admitting: admissionRule, { j in
                guard j.desired == .running, j.phase == .pending || j.phase == .backoff, j.currentRun == nil else {
                    throw StoreError.versionConflict("job \(j.id)")
                }
                j.phase = .starting
                j.reason = nil
                j.currentRun = id
                j.nextAttemptAt = nil
                return event(j, "starting", "run \(id) starting", run: id)
            }) else { return launchEnded(job.id) }
            starting = j
        } catch StoreError.overQuota(let reason) {
            // The next change pokes a pass, which records the reason; no poke now, so that a
            // verdict the pass and the store disagreed on could never spin.
            logger.debug("job \(job.id) no longer fits: \(reason)")
            return launchEnded(job.id, poke: false)
        } catch {
            logger.info("job \(job.id) changed before its run started: \(error)")
            return launchEnded(job.id)
        }
        launch(starting, tenant: tenant, run: run, inline: false)
    }

    /// Launches a job recorded `starting` with `run`; its outcome is recorded once known. The
    /// launch is handed straight to a launch thread (no task to wake on the way). With `inline`
    /// and no other launch in flight it runs right here instead: on an idle VM the wake-up of
    /// a launch thread is a tenth of the launch, and nothing waits behind this one.
    private func launch(_ starting: Job, tenant: Tenant, run: Run, inline: Bool) {
        let spec: RunSpec
        do {
            spec = try makeRunSpec(starting, tenant, RunID(run.id) ?? RunID())
        } catch {
            Task { await record(.failure(error), of: starting, run: run) }
            return
        }
        if inline && inFlight == 1 {
            let outcome = Result { try agent.startHere(spec) }
            Task { await record(outcome, of: starting, run: run) }
        } else {
            agent.start(spec) { outcome in Task { await self.record(outcome, of: starting, run: run) } }
        }
    }

    /// Records a launch's outcome: the run `running` with its handle, or its failure (and the
    /// job's restart policy); then the job is no longer launching.
    nonisolated func record(_ outcome: Result<StartedRun, any Error>, of starting: Job, run: Run) async {
        var run = run
        let runID = RunID(run.id) ?? RunID()
        // A pass is asked for unless the job simply runs on: a pass leaves a launching job
        // alone, so a stop that came meanwhile, or a failure, needs one.
        var poke = true
        do {
            let started = try outcome.get()
            run.state = .running
            run.handle = try String(decoding: JSONEncoder().encode(started.handle), as: UTF8.self)
            let message = "run \(runID) started, pid \(started.shimPID)"
            let running = try await store.transition(jobID: starting.id, saving: run, epoch: epoch) { j in
                guard j.currentRun == runID.rawValue, j.phase == .starting else { return nil }
                j.phase = .running
                return event(j, "started", message, run: runID.rawValue)
            }
            poke = running?.desired != .running
        } catch {
            run.state = .ended
            run.endedAt = nowMillis()
            run.exit = "launch_failed"
            run.message = "\(error)"
            _ = try? await afterRun(run, exit: "launch_failed", code: nil, success: false, message: "\(error)")
        }
        await launchEnded(starting.id, poke: poke)
    }

    private func launchEnded(_ jobID: String, poke: Bool = true) {
        launching[jobID] = nil
        inFlight -= 1
        if poke { wake.yield() }
    }

    func stopRun(_ job: Job) async throws {
        guard let runID = job.currentRun, let run = try await store.run(id: runID) else { return }
        if let handle = run.handle.flatMap(Self.decodeHandle) { agent.stop(handle) }
        if job.phase != .stopping {
            try await transition(job.id) { j in
                guard j.phase == .running || j.phase == .starting else { return nil }
                j.phase = .stopping
                return event(j, "stopping", j.desired == .removed ? "removing: stopping run \(runID)" : "stopping run \(runID) by request", run: runID)
            }
        }
    }

    /// Records a run's real ending, then applies the job's restart policy. Returns whether a
    /// pass is needed: for a restart's backoff, a stop or removal, or waiting jobs of the tenant
    /// that the freed quota may let start. A job that simply finished needs none.
    @discardableResult
    func handleEnding(_ ended: RunEnded) async throws -> Bool {
        guard var run = try await store.run(id: ended.handle.run) else { return true }
        if run.state == .ended {
            // Recorded before a crash, but the job may not have moved on: finish that (idempotent).
            _ = try await afterRun(run, exit: run.exit ?? "lost", code: run.exitCode,
                                   success: run.exit == "exited" && run.exitCode == 0, message: run.message ?? "ended")
            agent.forget(ended.handle)
            return true
        }
        let r = ended.result
        run.state = .ended
        run.endedAt = nowMillis()
        run.exit = r.ending.reason
        if case .exited(let code) = r.ending { run.exitCode = code }
        run.message = r.ending.summary + (r.stuck ? " (its cgroup could not be emptied: stuck)" : "")
        var success = false
        if case .exited(0) = r.ending { success = true }
        let job = try await afterRun(run, exit: r.ending.reason, code: run.exitCode, success: success, message: r.ending.summary)
        agent.forget(ended.handle)
        guard let job, job.desired == .running, job.phase == .succeeded || job.phase == .failed else { return true }
        return try await store.hasWaitingJobs(tenantID: job.tenantID)
    }

    /// Saves `run` (ended) and moves its job on by the restart policy, in one transaction.
    @discardableResult
    nonisolated func afterRun(_ run: Run, exit: String, code: Int?, success: Bool, message: String) async throws -> Job? {
        let runID = run.id
        return try await store.transition(jobID: run.jobID, saving: run, epoch: epoch) { j in
            guard j.currentRun == runID else { return nil }
            j.currentRun = nil
            j.lastExit = exit
            j.lastExitCode = code
            if j.desired != .running {
                j.phase = .stopped
                j.reason = j.desired == .removed ? "removed" : "stopped by request"
                return event(j, "stopped", "run \(runID) \(message)", run: runID)
            }
            let condition = j.spec.restart.effectiveCondition(for: j.spec.kind)
            let restart = condition == .always || (condition == .onFailure && !success)
            let underLimit = j.spec.restart.maxRestarts.map { j.restarts < $0 } ?? true
            if restart && underLimit {
                j.restarts += 1
                let wait = j.spec.restart.backoff(restart: j.restarts)
                j.phase = .backoff
                j.nextAttemptAt = nowMillis() + Int64(wait)
                j.reason = "run \(runID) \(message); restart \(j.restarts) in \(Double(wait) / 1000)s"
                return event(j, "restarting", j.reason ?? "", run: runID)
            }
            j.phase = success ? .succeeded : .failed
            j.reason = "run \(runID) \(message)" + (restart && !underLimit ? "; no restarts left" : "")
            return event(j, success ? "succeeded" : "failed", j.reason ?? "", run: runID)
        }
    }

    /// Applies `change` to the stored job (and saves `run`) in one transaction; `change`
    /// returns nil when there is nothing to do.
    nonisolated func transition(_ jobID: String, saving run: Run? = nil, _ change: @escaping @Sendable (inout Job) -> Event?) async throws {
        _ = try await store.transition(jobID: jobID, saving: run, epoch: epoch, change)
    }

    // MARK: - Re-adoption

    /// After a restart: every run the store says is live on this node is watched again through
    /// its shim, or, if it ended while no daemon watched, its real ending is recorded. A run
    /// recorded as starting whose shim never wrote a status never began: its job is pending
    /// again (nothing ran, so nothing is doubled).
    func adoptRuns() async throws {
        // Jobs whose current run ended (recorded) while the job's own update was lost with the
        // daemon: finish their transition from the recorded ending.
        for job in try await store.jobs(tenantID: nil) where job.phase.isAdmitted {
            guard let runID = job.currentRun else { continue }
            guard let run = try await store.run(id: runID) else {
                try await transition(job.id) { j in
                    guard j.currentRun == runID else { return nil }
                    j.currentRun = nil
                    j.phase = j.desired == .running ? .pending : .stopped
                    j.reason = "run \(runID) was never recorded; " + (j.desired == .running ? "starting again" : "stopped")
                    return event(j, j.phase.rawValue, j.reason ?? "", run: runID)
                }
                continue
            }
            if run.state == .ended {
                try await afterRun(run, exit: run.exit ?? "lost", code: run.exitCode,
                                   success: run.exit == "exited" && run.exitCode == 0, message: run.message ?? "ended")
            }
        }
        for run in try await store.activeRuns(node: agent.node) {
            var handle = run.handle.flatMap(Self.decodeHandle)
            if handle == nil, let status = ShimStatus.read(agent.launcher.statusPath(RunID(run.id) ?? RunID())) {
                handle = RunHandle(tenant: run.tenantID, job: run.jobID, run: run.id, shimPID: status.shimPID,
                                   shimStart: status.shimStart ?? 0, statusPath: agent.launcher.statusPath(RunID(run.id) ?? RunID()))
            }
            guard let handle else {
                try await lose(run, because: "the daemon stopped before the run's shim started")
                continue
            }
            let adopted: RunResult?
            do {
                adopted = try agent.adopt(handle)
            } catch {
                try await lose(run, because: "cannot be re-adopted: \(error)")
                continue
            }
            if let result = adopted {
                try await handleEnding(RunEnded(handle: handle, result: result))
            } else {
                try await store.record(Event(at: 0, tenantID: run.tenantID, jobID: run.jobID, runID: run.id, kind: "adopted",
                                             message: "run \(run.id) re-adopted after a daemon restart (shim pid \(handle.shimPID))"), epoch: epoch)
                if run.state == .starting {
                    var r = run
                    r.state = .running
                    r.handle = try String(decoding: JSONEncoder().encode(handle), as: UTF8.self)
                    let id = run.id
                    try await transition(run.jobID, saving: r) { j in
                        guard j.currentRun == id, j.phase == .starting else { return nil }
                        j.phase = .running
                        return event(j, "started", "run \(id) started", run: id)
                    }
                }
            }
        }
    }

    /// Stops every run on this node and waits (up to the longest grace period and 10 s more)
    /// for them to end: `berth serve --stop-jobs`.
    public func stopAll() async {
        guard let runs = try? await store.activeRuns(node: agent.node) else { return }
        for run in runs { if let h = run.handle.flatMap(Self.decodeHandle) { agent.stop(h) } }
        for _ in 0..<400 where agent.watchedCount > 0 { try? await Task.sleep(for: .milliseconds(100)) }
    }

    /// A run that never began (or cannot be found): recorded as `lost`, its job pending again.
    func lose(_ run: Run, because why: String) async throws {
        if let place = RunPlace(tenant: run.tenantID, job: run.jobID, run: run.id) { agent.removeLeftovers(place) }
        var r = run
        r.state = .ended
        r.exit = "lost"
        r.message = why
        r.endedAt = nowMillis()
        let id = run.id
        try await transition(run.jobID, saving: r) { j in
            guard j.currentRun == id else { return nil }
            j.currentRun = nil
            j.phase = .pending
            j.reason = "run \(id) \(why); starting again"
            return event(j, "pending", j.reason ?? "", run: id)
        }
    }

    // MARK: - Helpers

    static func decodeHandle(_ text: String) -> RunHandle? {
        try? JSONDecoder().decode(RunHandle.self, from: Data(text.utf8))
    }

    func removeLogs(_ job: Job) {
        agent.removeLogs(tenant: job.tenantID, job: job.id)
    }
}

/// This process's clock in ms since the epoch (run start and end times; the store stamps events).
func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// An event about `job`, stamped by the store.
func event(_ job: Job, _ kind: String, _ message: String, run: String? = nil) -> Event {
    Event(at: 0, tenantID: job.tenantID, jobID: job.id, runID: run, kind: kind, message: message)
}
