import BerthCore

/// Admission by quota: a job starts only when what it declares fits in what is left of its
/// tenant's quota, summed over the tenant's admitted jobs.
public enum Admission {
    /// What a job counts against its tenant's quota while admitted. `defaultPids` is the host's
    /// default `pids.max`, which applies when the spec is silent.
    public static func demand(of spec: JobSpec, defaultPids: Int) -> Demand {
        spec.demand(defaultPids: defaultPids)
    }

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
            ("resources.cpu", d.cpuMicrocores, q.cpuMicrocores, Units.cores),
            ("resources.memory", d.memoryBytes, q.memoryBytes, Units.bytes),
            ("resources.io", d.ioBytesPerSecond, q.ioBytesPerSecond, { Units.bytes($0) + "/s" }),
            ("network", d.networkBitsPerSecond, q.networkBitsPerSecond, Units.bits),
            ("resources.pids", d.pids, q.pids, { String($0) }),
            ("jobs", d.jobs, q.jobs, { "\($0) job" + ($0 == 1 ? "" : "s") }),
        ]
    }
}

/// Numbers as people read them.
public enum Units {
    /// Micro-cores as cores: 1500000 → "1.5".
    public static func cores(_ micro: Int) -> String {
        let whole = micro / 1_000_000, frac = (micro % 1_000_000) / 10_000
        return frac == 0 ? "\(whole)" : "\(whole).\(frac < 10 ? "0" : "")\(frac)".replacingTrailingZeros()
    }

    /// Bytes with a binary unit: 268435456 → "256Mi".
    public static func bytes(_ n: Int) -> String {
        for (unit, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] where n >= 1 << shift {
            let scaled = Double(n) / Double(1 << shift)
            return (scaled == scaled.rounded() ? String(Int(scaled)) : String(Double(Int(scaled * 10)) / 10)) + unit
        }
        return "\(n)"
    }

    /// Bits per second: 100000000 → "100Mbit".
    public static func bits(_ n: Int) -> String {
        for (unit, scale) in [("Gbit", 1_000_000_000), ("Mbit", 1_000_000), ("Kbit", 1_000)] where n >= scale && n % scale == 0 {
            return "\(n / scale)\(unit)"
        }
        return "\(n)bit"
    }
}

extension String {
    fileprivate func replacingTrailingZeros() -> String {
        var s = self
        while s.contains(".") && s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
