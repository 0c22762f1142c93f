/// One reading of a run's cgroup statistics, the same shape on v2 and hybrid hosts.
/// Fields a host cannot report are nil, never zero.
public struct RunStats: Sendable, Equatable, Codable {
    public var cpu = CPUStats()
    public var memory = MemoryStats()
    public var io = IOStats()
    public var pids = PIDsStats()
    public var cpuPressure: Pressure?
    public var memoryPressure: Pressure?
    public var ioPressure: Pressure?
    public init() {}
}

/// `cpu.stat` (v2), or unified `cpu.stat` plus v1 `cpu.stat` (hybrid).
public struct CPUStats: Sendable, Equatable, Codable {
    public var usageMicros: Int?
    public var userMicros: Int?
    public var systemMicros: Int?
    public var periods: Int?
    public var throttledPeriods: Int?
    public var throttledMicros: Int?
    public init() {}
}

/// `memory.current`, `memory.peak`, `memory.events` (v2); usage, max usage, failcnt, oom_control (v1).
public struct MemoryStats: Sendable, Equatable, Codable {
    public var currentBytes: Int?
    public var peakBytes: Int?
    /// Times usage went over `memory.high` (v2 only).
    public var highEvents: Int?
    /// Times usage hit `memory.max` (v2 `max`, v1 `failcnt`).
    public var maxEvents: Int?
    /// Times the cgroup ran out of memory at its own limit (v2 `oom`; v1 has no such counter).
    public var oomEvents: Int?
    /// Processes of this cgroup killed by the OOM killer.
    public var oomKills: Int?
    public init() {}
}

/// Bytes and operations, summed over devices (`io.stat`, or v1 `blkio.throttle.*`).
public struct IOStats: Sendable, Equatable, Codable {
    public var readBytes: Int?
    public var writeBytes: Int?
    public var readOps: Int?
    public var writeOps: Int?
    public init() {}
}

/// `pids.current` and the `max` count of `pids.events` (forks refused at the limit).
public struct PIDsStats: Sendable, Equatable, Codable {
    public var current: Int?
    public var maxEvents: Int?
    public init() {}
}

/// PSI for one resource: `some` (at least one task stalled) and `full` (all stalled).
public struct Pressure: Sendable, Equatable, Codable {
    public var some: PressureLine
    public var full: PressureLine?
}

/// One PSI line. Use differences of `totalMicros`; the averages lag far behind.
public struct PressureLine: Sendable, Equatable, Codable {
    public var avg10: Double
    public var avg60: Double
    public var avg300: Double
    public var totalMicros: Int
}

extension RunStats {
    /// What both drivers read the same way: `cpu.stat` usage of the run's cgroup2 directory
    /// (present even without controllers), `pids.current`/`pids.events` (one format in v1 and
    /// v2), and PSI. Keys are the file names.
    static func common(_ files: [String: String]) -> RunStats {
        var s = RunStats()
        let cpu = StatParsers.flat(files["cpu.stat"] ?? "")
        s.cpu.usageMicros = cpu["usage_usec"]
        s.cpu.userMicros = cpu["user_usec"]
        s.cpu.systemMicros = cpu["system_usec"]
        s.pids.current = files["pids.current"].flatMap(StatParsers.single)
        s.pids.maxEvents = files["pids.events"].map { StatParsers.flat($0)["max"] ?? 0 }
        s.cpuPressure = files["cpu.pressure"].flatMap(StatParsers.pressure)
        s.memoryPressure = files["memory.pressure"].flatMap(StatParsers.pressure)
        s.ioPressure = files["io.pressure"].flatMap(StatParsers.pressure)
        return s
    }
}
