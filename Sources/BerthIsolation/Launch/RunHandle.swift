#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// What a store records about a started run so that any later process can re-adopt it: the
/// run's ids, its shim's pid and start time (together they name the shim for good, where a
/// pid alone may be reused), and its status file.
public struct RunHandle: Codable, Sendable, Equatable {
    public var tenant: String
    public var job: String
    public var run: String
    public var shimPID: Int32
    /// The shim's start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    public var shimStart: UInt64
    public var statusPath: String

    public init(tenant: String, job: String, run: String, shimPID: Int32, shimStart: UInt64, statusPath: String) {
        self.tenant = tenant
        self.job = job
        self.run = run
        self.shimPID = shimPID
        self.shimStart = shimStart
        self.statusPath = statusPath
    }

    /// The ids, parsed; nil when one of them is not an id.
    public var place: RunPlace? { RunPlace(tenant: tenant, job: job, run: run) }
}

extension StartedRun {
    /// What to record so that a later process can re-adopt this run (`Launcher.adopt`).
    public var handle: RunHandle {
        RunHandle(tenant: place.tenant.rawValue, job: place.job.rawValue, run: place.run.rawValue,
                  shimPID: shimPID, shimStart: shimStart, statusPath: statusPath)
    }
}

extension Launcher {
    /// Re-adopts a run started by an earlier process (or by this one, from its handle): rebuilds
    /// its cgroup from the ids (`CgroupDriver.runCgroup(for:)`) and checks that `shimPID` is still
    /// that shim, started at `shimStart` and not exited. nil when the shim is gone, or the
    /// handle's ids are not ids: then `ended(_:)` says how the run ended.
    ///
    /// The adopted run's `spec` is nil and its cgroup's `applied` limits are empty (the caller
    /// recorded them when it started the run). A shim that is not this process's child is reaped
    /// by its own parent (init, or a subreaper), never by this process.
    public func adopt(_ handle: RunHandle) -> StartedRun? {
        guard let run = try? rebuild(handle), ProcessStat.isRunning(handle.shimPID, start: handle.shimStart) else { return nil }
        return run
    }

    /// The result of a run whose shim is gone: from its ended status file, or, if the shim died
    /// without writing one, what is left of the run is killed and removed and the result is
    /// `launchFailed` (as `StartedRun.finish()` does). If the shim is in fact still running,
    /// this waits for it: a live run is never torn down from here. Throws only for a handle
    /// whose ids are not ids (`field` "handle").
    public func ended(_ handle: RunHandle) throws -> RunResult {
        try rebuild(handle).finish()
    }

    /// The `StartedRun` a handle describes, its cgroup rebuilt from
    /// the ids. Nothing is checked about the shim.
    func rebuild(_ handle: RunHandle) throws -> StartedRun {
        guard let place = handle.place else {
            throw BerthError.invalid("handle", "the run's ids must be t, j and r with 16 hex digits each",
                                     got: "\(handle.tenant)/\(handle.job)/\(handle.run)")
        }
        try HostLayout.checkPath(handle.statusPath, field: "handle")
        return StartedRun(spec: nil, place: place, shimPID: handle.shimPID, shimStart: handle.shimStart, statusPath: handle.statusPath,
                          cgroup: driver.runCgroup(for: place), driver: driver)
    }
}
