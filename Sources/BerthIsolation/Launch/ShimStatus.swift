import FoundationEssentials
import BerthCore

/// The status file the shim writes by write + rename: `state` is `running` once the job has
/// exec'd, `ended` with the outcome and the raw final stats.
///
/// Version 2 is self-contained: the run's ids, its cgroup (the unified directory) and the
/// shim's start time, so that a process that did not start the run can re-adopt it and tell
/// the shim from a process that reused its pid. Version 1 files (without them) still read.
public struct ShimStatus: Decodable, Sendable {
    public var version: Int
    public var state: String
    /// The run's ids (version 2).
    public var tenant: String?
    public var job: String?
    public var run: String?
    /// The run's cgroup v2 directory (version 2).
    public var cgroup: String?
    public var shimPID: Int32
    /// The shim's start time in clock ticks since boot, field 22 of `/proc/PID/stat` (version 2;
    /// 0 if the shim could not read it).
    public var shimStart: UInt64?
    public var pid: Int32
    public var startedNanos: Int64
    public var how: String?
    public var code: Int?
    public var signal: Int?
    public var errno: Int?
    public var step: Int?
    public var endedNanos: Int64?
    public var stuck: Bool?
    public var cgroupRemoved: Bool?
    public var oomGroupKill: Bool?
    public var message: String?
    public var stats: [String: String]?

    enum CodingKeys: String, CodingKey {
        case version, state, tenant, job, run, cgroup, pid, how, code, signal, errno, step, stuck, message, stats
        case shimPID = "shim_pid", shimStart = "shim_start", startedNanos = "started_ns", endedNanos = "ended_ns"
        case cgroupRemoved = "cgroup_removed", oomGroupKill = "oom_group_kill"
    }

    /// Reads and decodes a status file; nil if it is missing or not (yet) valid.
    public static func read(_ path: String) -> ShimStatus? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ShimStatus.self, from: data)
    }

    /// The ids it names, when it names them (version 2).
    public var place: RunPlace? {
        guard let tenant, let job, let run else { return nil }
        return RunPlace(tenant: tenant, job: job, run: run)
    }

    /// It is the status of the run at `place`: its ids are those, or it has none (version 1).
    public func belongs(to place: RunPlace) -> Bool {
        tenant == nil && job == nil && run == nil || self.place == place
    }
}
