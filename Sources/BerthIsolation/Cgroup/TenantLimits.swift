#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// A tenant's quota as kernel limits on its level (`<root>/tenants/<tenant-id>`), which every
/// run of the tenant is below: the quota holds even if admission has a bug. nil: no limit
/// ("max"). Written by `CgroupDriver.setTenantLimits`.
public struct TenantLimits: Sendable, Equatable {
    /// CPU in micro-cores (1 core = 1_000_000): v2 `cpu.max`, v1 `cpu.cfs_quota_us`, over
    /// `Resources.cpuPeriodMicros`.
    public var cpuMicrocores: Int?
    /// v2 `memory.max`; v1 `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`, equal).
    public var memoryBytes: Int?
    /// `pids.max`.
    public var pids: Int?
    public init() {}

    /// The tenant's `cpu.max` quota in microseconds per `Resources.cpuPeriodMicros`: at least
    /// 1000, the kernel's smallest.
    var cpuQuotaMicros: Int? {
        // micro-cores × period / 1e6, in two parts so that no product overflows.
        cpuMicrocores.map { Swift.max(1_000, $0 / 1_000_000 * Resources.cpuPeriodMicros + $0 % 1_000_000 * Resources.cpuPeriodMicros / 1_000_000) }
    }

    /// Refuses values no kernel file takes (negative), naming the field.
    func validate() throws {
        for (field, value) in [("cpu", cpuMicrocores), ("memory", memoryBytes), ("pids", pids)] {
            if let value, value < 0 { throw BerthError.invalid("tenant \(field) limit", "must not be negative", got: String(value)) }
        }
        if let cpu = cpuMicrocores, cpu == 0 { throw BerthError.invalid("tenant cpu limit", "must be more than 0", got: "0") }
    }
}

extension Enforcement {
    /// The tenant limits this host cannot enforce, one sentence each (as `shortfalls(_:)` for
    /// a run's resources). Removing a limit (nil) is never a shortfall.
    public func shortfalls(_ limits: TenantLimits) -> [String] {
        var out: [String] = []
        if limits.cpuMicrocores != nil && !cpuMax { out.append("tenant cpu: no cpu controller on this host; the tenant's cpu limit cannot be enforced") }
        if limits.memoryBytes != nil && !memoryMax { out.append("tenant memory: no memory controller on this host; the tenant's memory limit cannot be enforced") }
        if limits.pids != nil && !pids { out.append("tenant pids: no pids controller on this host; the tenant's pids limit cannot be enforced") }
        return out
    }
}

/// Writes one limit, as `Sys.write`, with an error that names the file, the value and the
/// errno whichever step failed (opening or writing). The errno is kept: a level removed
/// meanwhile (ENOENT, ENODEV) is what `makeLeaf` retries on.
func writeLimit(_ path: String, _ value: String) throws {
    do {
        try Sys.write(path, value)
    } catch let error as BerthError {
        let e = error.errno ?? 0
        throw BerthError(.cgroup, "write '\(value)' to \(path): \(Sys.errnoText(e))", errno: error.errno)
    }
}
