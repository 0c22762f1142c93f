#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import CBerthSys
import NIOPosix
import Synchronization

/// A run that ended, as the agent saw it.
public struct RunEnded: Sendable {
    public let handle: RunHandle
    public let result: RunResult
    public init(handle: RunHandle, result: RunResult) {
        self.handle = handle
        self.result = result
    }
}

/// The node side of Berth: starts runs through the `Launcher` and watches their shims through
/// pidfds in one epoll loop, so it needs to be no run's parent. The same code watches a run it
/// started and a run an earlier daemon started (`adopt`): a restarted daemon loses nothing.
public final class Agent: Sendable {
    public let node: String
    public let launcher: Launcher
    /// `<logRoot>/<tenant-id>/<job-id>/<run-id>/stdout.log`, root's, never shown to jobs.
    public let logRoot: String
    /// Every ended run, once, in the order the agent saw them end.
    public let endings: AsyncStream<RunEnded>
    private let continuation: AsyncStream<RunEnded>.Continuation
    private let epollFD: Int32
    private let watched = Mutex<[Int32: StartedRun]>([:])
    /// Launches block (cgroup writes, clone, the wait for exec): they run on these threads,
    /// never on the caller's, so that a daemon's async threads keep serving while runs start.
    private let launchThreads: NIOThreadPool

    /// `launchWidth`: the most runs started at once.
    public init(node: String, launcher: Launcher, logRoot: String, launchWidth: Int = 8) throws {
        self.node = node
        self.launcher = launcher
        self.logRoot = logRoot
        launchThreads = NIOThreadPool(numberOfThreads: max(1, launchWidth))
        launchThreads.start()
        try CheckpointTree.makeDirectories(logRoot, mode: 0o700)
        (endings, continuation) = AsyncStream.makeStream(of: RunEnded.self)
        epollFD = try Sys.retrying(.system, "epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        let thread = WatchThread(agent: self)
        thread.start()
    }

    /// Starts a run on a launch thread and watches it, then calls `then` there with the outcome;
    /// the caller does not wait. The handle is what the store records for re-adoption.
    public func start(_ spec: RunSpec, then: @escaping @Sendable (Result<StartedRun, any Error>) -> Void) {
        launchThreads.submit { [self] state in
            guard case .active = state else {
                return then(.failure(BerthError(.launch, "the daemon is shutting down; the run was not started")))
            }
            then(Result { try startHere(spec) })
        }
    }

    /// Starts a run on the caller's thread (which blocks for the launch) and watches it.
    public func startHere(_ spec: RunSpec) throws -> StartedRun {
        let run = try launcher.start(spec)
        do {
            try watch(run)
        } catch {
            // Unwatched, its end would go unrecorded: it is stopped, and its start fails.
            stop(run.handle)
            throw error
        }
        return run
    }

    deinit { launchThreads.shutdownGracefully { _ in } }

    /// Asks a run to stop: SIGTERM to its shim, which passes it to the job and kills the run's
    /// cgroup after the grace period. Idempotent; a run already gone is not an error.
    public func stop(_ handle: RunHandle) {
        let fd = berth_pidfd_open(handle.shimPID)
        guard fd >= 0 else { return }
        defer { close(fd) }
        // The pid may have been reused since: only a live shim with the recorded start time is signalled.
        if launcher.adopt(handle) != nil { _ = berth_pidfd_send_signal(fd, SIGTERM) }
    }

    /// Re-adopts a run an earlier daemon started: watched from now on if its shim lives,
    /// otherwise its real ending (from the shim's status file) is returned at once.
    public func adopt(_ handle: RunHandle) throws -> RunResult? {
        if let run = launcher.adopt(handle) {
            do {
                try watch(run)
                return nil
            } catch {
                // Could not watch it (no pidfd): fall through and read what is there.
            }
        }
        return try launcher.ended(handle)
    }

    /// Where a run's log files are.
    public func logDirectory(tenant: String, job: String, run: String) -> String {
        "\(logRoot)/\(tenant)/\(job)/\(run)"
    }

    /// Removes a removed job's logs, every run's.
    public func removeLogs(tenant: String, job: String) {
        guard let t = TenantID(tenant), let j = JobID(job) else { return }
        // Laid out as checkpoints are (`<root>/<tenant>/<job>`): the same careful removal.
        try? CheckpointTree(root: logRoot, quota: nil).removeJobDirectory(tenant: t, job: j)
        _ = rmdir("\(logRoot)/\(tenant)")
    }

    /// The run's status file is no longer needed: its ending is in the store.
    public func forget(_ handle: RunHandle) {
        _ = unlink(handle.statusPath)
    }

    /// Removes what a launch cut short by a crash may have left: the run's cgroup (killed first,
    /// in case anything runs there) and its status file.
    public func removeLeftovers(_ place: RunPlace) {
        let cgroup = launcher.driver.runCgroup(for: place)
        try? Sys.write(cgroup.unifiedPath + "/cgroup.kill", "1")
        launcher.driver.removeRun(cgroup)
        _ = unlink(launcher.statusPath(place.run))
    }

    /// Writes a tenant's quota as kernel limits on its cgroup level (cpu, memory, pids), so the
    /// quota holds even if admission were wrong. Returns what this host cannot enforce.
    public func applyQuota(tenant id: TenantID, _ quota: Quota) throws -> [String] {
        var limits = TenantLimits()
        limits.cpuMicrocores = quota.cpuMicrocores
        limits.memoryBytes = quota.memoryBytes
        limits.pids = quota.pids
        return try launcher.driver.setTenantLimits(id, limits)
    }

    /// Releases a removed tenant on this node: its checkpoint subtree and idle cgroup levels.
    public func releaseTenant(_ id: TenantID) throws {
        if launcher.driver.hasRuns(tenant: id) {
            throw BerthError(.invalidSpec, "tenant \(id) still has runs on this node", field: "tenant")
        }
        try launcher.checkpoints.removeTenantDirectory(tenant: id)
        launcher.driver.removeIdleTree(tenant: id)
        try CheckpointTree(root: logRoot, quota: nil).removeTenantDirectory(tenant: id)
    }

    /// Runs being watched.
    public var watchedCount: Int { watched.withLock { $0.count } }

    private func watch(_ run: StartedRun) throws {
        let fd = try run.openPidfd()
        watched.withLock { $0[fd] = run }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = fd
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
            let e = errno
            watched.withLock { _ = $0.removeValue(forKey: fd) }
            close(fd)
            throw BerthError(.system, "epoll_ctl ADD pidfd of shim \(run.shimPID): \(Sys.errnoText(e))", errno: e)
        }
    }

    /// The watch loop's body: waits for shims to exit and reports their runs' endings.
    fileprivate func waitForEndings() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let n = epoll_wait(epollFD, &events, Int32(events.count), -1)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            for i in 0..<Int(n) {
                let fd = events[i].data.fd
                guard let run = watched.withLock({ $0.removeValue(forKey: fd) }) else { continue }
                _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
                close(fd)
                let result = run.finish()
                continuation.yield(RunEnded(handle: run.handle, result: result))
            }
        }
    }
}

/// The one thread that blocks in epoll_wait for the agent: shims' exits are not async work.
private final class WatchThread: Sendable {
    let agent: Agent
    init(agent: Agent) { self.agent = agent }

    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let me = Unmanaged<WatchThread>.fromOpaque(raw).takeRetainedValue()
            me.agent.waitForEndings()
            return nil
        }, box)
        pthread_detach(thread)
    }
}
