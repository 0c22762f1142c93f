#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import BerthCore

/// What `berth run` prints about a finished run: one line for people, one JSON object for tools.
public struct RunReport: Encodable, Sendable {
    public var tenant: String
    public var jobID: String
    public var runID: String
    public var reason: String
    public var exitCode: Int32
    public var summary: String
    public var wallMillis: Int
    public var stats: RunStats
    public var applied: AppliedLimits
    public var warnings: [String]
    public var stuck: Bool
    public var cgroupRemoved: Bool
    public var cgroupPath: String
    /// What Berth could not remove after the run (then `berth run` exits 125).
    public var cleanupErrors: [String] = []

    enum CodingKeys: String, CodingKey {
        case tenant, reason, summary, stats, applied, warnings, stuck
        case cleanupErrors = "cleanup_errors"
        case jobID = "job_id", runID = "run_id", exitCode = "exit_code", wallMillis = "wall_ms", cgroupRemoved = "cgroup_removed", cgroupPath = "cgroup"
    }

    /// `tenant`: the tenant's name, as the caller knows it; without it the report shows the
    /// tenant's id (an adopted run's result carries ids only).
    public init(_ r: RunResult, tenant name: TenantName? = nil) {
        tenant = name?.rawValue ?? r.place.tenant.rawValue
        jobID = r.place.job.rawValue
        runID = r.place.run.rawValue
        reason = r.ending.reason
        exitCode = r.ending.exitCode
        summary = r.ending.summary
        wallMillis = r.wallMillis
        stats = r.stats
        applied = r.cgroup.applied
        warnings = r.cgroup.warnings
        stuck = r.stuck
        cgroupRemoved = r.cgroupRemoved
        cgroupPath = r.cgroup.unifiedPath
    }

    /// One line: why it ended, cpu time, peak memory, bytes read and written, time throttled.
    public var line: String {
        var parts = [summary]
        let cpu = stats.cpu
        parts.append("cpu \(seconds(cpu.usageMicros)) (user \(seconds(cpu.userMicros)), sys \(seconds(cpu.systemMicros)))")
        var memory = "peak memory \(bytes(stats.memory.peakBytes))"
        if let max = applied.memoryMaxBytes { memory += " of \(bytes(max))" }
        parts.append(memory)
        parts.append("read \(bytes(stats.io.readBytes)), wrote \(bytes(stats.io.writeBytes))")
        if let t = cpu.throttledMicros, (cpu.periods ?? 0) > 0 {
            parts.append("throttled \(seconds(t)) in \(cpu.throttledPeriods ?? 0)/\(cpu.periods ?? 0) periods")
        }
        if let refused = stats.pids.maxEvents, refused > 0 { parts.append("\(refused) forks refused at pids limit") }
        parts.append("wall \(seconds(wallMillis * 1000))")
        if !applied.capabilities.isEmpty { parts.append("capabilities " + applied.capabilities.joined(separator: ",")) }
        for error in cleanupErrors { parts.append("CLEANUP FAILED: \(error)") }
        if stuck { parts.append("STUCK: processes remain in \(cgroupPath)") }
        else if !cgroupRemoved { parts.append("cgroup not removed: \(cgroupPath)") }
        return "berth: " + parts.joined(separator: " · ")
    }

    /// The same as `line`, as one JSON object.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

func seconds(_ micros: Int?) -> String {
    guard let micros else { return "n/a" }
    return fixed(Double(micros) / 1_000_000, decimals: 3) + "s"
}

func bytes(_ value: Int?) -> String {
    guard let value else { return "n/a" }
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(value)
    var i = 0
    while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
    return i == 0 ? "\(value) B" : fixed(v, decimals: 1) + " " + units[i]
}

/// `value` with `decimals` digits after the point, as printf's `%.Nf` writes it (what
/// `String(format:)` did; FoundationEssentials has no `String(format:)`).
func fixed(_ value: Double, decimals: Int) -> String {
    var buffer = [CChar](repeating: 0, count: 350)
    let n = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.\(decimals)f", $0) }
    return String(decoding: buffer.prefix(max(0, min(Int(n), buffer.count - 1))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
