import BerthCore

/// Admission by quota: a job starts only when what it declares fits in what is left of its
/// tenant's quota, summed over the tenant's admitted jobs.
public enum Admission {
    /// Why a job can never run under `quota` (nil if it could): a limit it exceeds on its own,
    /// or a resource the quota limits that the spec leaves unbounded. Checked at submission.
    public static func neverFits(_ spec: JobSpec, demand: Demand, quota: Quota) -> BerthError? {
        if quota.cpuMicrocores != nil && spec.resources.cpu == nil {
            return .invalid("resources.cpu", "is required: your tenant's quota limits cpu")
        }
        if quota.memoryBytes != nil && spec.resources.memory == nil {
            return .invalid("resources.memory", "is required: your tenant's quota limits memory")
        }
        for (field, want, limit, show) in rows(demand, quota) where limit.map({ want > $0 }) == true {
            return .invalid(field, "asks for \(show(want)), more than your tenant's whole quota (\(show(limit ?? 0)))")
        }
        return nil
    }

    /// Why a job does not fit now (nil if it fits): the first resource whose quota the tenant's
    /// admitted jobs and this one together would pass.
    public static func check(_ demand: Demand, used: Demand, quota: Quota) -> String? {
        let total = used + demand
        for (field, want, limit, show) in rows(total, quota) where limit.map({ want > $0 }) == true {
            let name = field.split(separator: ".").last.map(String.init) ?? field
            let inUse = rows(used, quota).first { $0.0 == field }?.1 ?? 0
            return "waiting for quota: \(name) \(show(inUse)) of \(show(limit ?? 0)) in use, this job needs \(show(want - inUse))"
        }
        return nil
    }

    typealias Row = (String, Int, Int?, (Int) -> String)

    static func rows(_ d: Demand, _ q: Quota) -> [Row] {
        [
            ("resources.cpu", d.cpuMicrocores, q.cpuMicrocores, { Units.cores(microcores: $0) }),
            ("resources.memory", d.memoryBytes, q.memoryBytes, Units.bytes),
            ("resources.io", d.ioBytesPerSecond, q.ioBytesPerSecond, { Units.bytes($0) + "/s" }),
            ("network", d.networkBitsPerSecond, q.networkBitsPerSecond, Units.bits),
            ("resources.pids", d.pids, q.pids, { String($0) }),
            ("jobs", d.jobs, q.jobs, { "\($0) job" + ($0 == 1 ? "" : "s") }),
        ]
    }
}
