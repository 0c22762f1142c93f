import FoundationEssentials

/// The status file the shim writes by write + rename: `state` is `running` once the job has
/// exec'd, `ended` with the outcome and the raw final stats.
public struct ShimStatus: Decodable, Sendable {
    public var version: Int
    public var state: String
    public var shimPID: Int32
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
        case version, state, pid, how, code, signal, errno, step, stuck, message, stats
        case shimPID = "shim_pid", startedNanos = "started_ns", endedNanos = "ended_ns"
        case cgroupRemoved = "cgroup_removed", oomGroupKill = "oom_group_kill"
    }

    /// Reads and decodes a status file; nil if it is missing or not (yet) valid.
    public static func read(_ path: String) -> ShimStatus? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ShimStatus.self, from: data)
    }
}
