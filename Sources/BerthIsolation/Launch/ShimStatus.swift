import FoundationEssentials
import BerthCore
import CBerthSys

/// The status file the shim writes by write + rename: `state` is `running` once the job has
/// exec'd, `ended` with the outcome and the raw final stats.
///
/// Version 2 is self-contained: the run's ids, its cgroup (the unified directory) and the
/// shim's start time, so that a process that did not start the run can re-adopt it and tell
/// the shim from a process that reused its pid. Version 1 files (without them) still read.
public struct ShimStatus: Decodable, Sendable {
    public var version: Int
    public var state: ShimRunState
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
    public var how: ShimHow?
    public var code: Int?
    public var signal: Int?
    public var errno: Int?
    public var step: ShimStep?
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

/// A name the shim writes, defined once in berth_shim_contract.h: each case's raw value is the
/// C enum's value, and its name in the status file is the C side's (`berth_*_name`).
public protocol ShimName: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == Int32 {
    static func cName(_ value: Int32) -> UnsafePointer<CChar>
}

extension ShimName {
    /// The name in the status file.
    public var name: String { String(cString: Self.cName(rawValue)) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self.allCases.first(where: { $0.name == text }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown name \(text)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

/// `state` in the status file: `running` once the job has exec'd, `ended` with its outcome.
public enum ShimRunState: Int32, ShimName {
    case running, ended
    public static func cName(_ value: Int32) -> UnsafePointer<CChar> { berth_run_state_name(value) }
}

/// `how` an ended run ended.
public enum ShimHow: Int32, ShimName {
    case exited, signaled, timeout, stopped, execFailed, launchFailed
    public static func cName(_ value: Int32) -> UnsafePointer<CChar> { berth_how_name(value) }
}

/// The setup `step` of the job's process that failed (0: none); the status file has its number.
public enum ShimStep: Int32, CaseIterable, Codable, Sendable {
    case none, signals, session, namespaces, groups, identity, workdir, seccomp, exec
    /// What the step does, as the shim's messages say it.
    public var name: String { String(cString: berth_step_name(rawValue)) }
}
