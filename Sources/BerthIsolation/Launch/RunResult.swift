import BerthCore

/// How a run ended, with its final stats and what was applied. Built from the status file and
/// the driver alone (`init(place:status:cgroup:driver:)`), so a process that did not start the
/// run gets the same result as the one that did.
public struct RunResult: Sendable {
    /// The run's ids.
    public let place: RunPlace
    public let ending: RunEnding
    public let stats: RunStats
    public let wallMillis: Int
    public let cgroup: RunCgroup
    /// The cgroup still held processes after `cgroup.kill` and the bounded wait.
    public let stuck: Bool
    public let cgroupRemoved: Bool
    public let jobPID: Int32

    init(place: RunPlace, ending: RunEnding, stats: RunStats, wallMillis: Int, cgroup: RunCgroup, stuck: Bool, cgroupRemoved: Bool, jobPID: Int32) {
        self.place = place
        self.ending = ending
        self.stats = stats
        self.wallMillis = wallMillis
        self.cgroup = cgroup
        self.stuck = stuck
        self.cgroupRemoved = cgroupRemoved
        self.jobPID = jobPID
    }

    /// Interprets an ended status file. `cgroup.applied` is used only to attribute an OOM kill
    /// on v1 (a peak at the job's own limit); empty, the kernel's own counters decide.
    public init(place: RunPlace, status s: ShimStatus, cgroup: RunCgroup, driver: any CgroupDriver) {
        let stats = driver.stats(from: s.stats ?? [:])
        let oomKilled = (stats.memory.oomKills ?? 0) > 0 || s.oomGroupKill == true
        // The run's own counters show whether its own limit was hit; if not, an ancestor's was.
        // (v1 counts no such event reliably; there, a peak at the limit shows it.)
        let peakAtLimit = cgroup.applied.memoryMaxBytes.map { (stats.memory.peakBytes ?? 0) >= $0 } ?? false
        let ownLimit = (stats.memory.oomEvents ?? 0) > 0 || (stats.memory.maxEvents ?? 0) > 0 || peakAtLimit
        let ending: RunEnding
        switch s.how {
        case .execFailed: ending = .execFailed(errno: s.errno ?? 0)
        case .launchFailed: ending = .launchFailed(message: (s.message ?? "shim failure") + (s.errno.map { $0 != 0 ? ": \(Sys.errnoText(Int32($0)))" : "" } ?? ""))
        case .timeout: ending = .timedOut
        case .stopped: ending = .stopped(signal: s.signal ?? 15)
        case _ where oomKilled: ending = .oomKilled(byTenantLimit: !ownLimit)
        case .signaled: ending = .signaled(signal: s.signal ?? 0)
        case .exited, nil: ending = .exited(code: s.code ?? 0)
        }
        let wall = Int(((s.endedNanos ?? s.startedNanos) - s.startedNanos) / 1_000_000)
        self.init(place: place, ending: ending, stats: stats, wallMillis: wall, cgroup: cgroup,
                  stuck: s.stuck ?? false, cgroupRemoved: s.cgroupRemoved ?? false, jobPID: s.pid)
    }
}
