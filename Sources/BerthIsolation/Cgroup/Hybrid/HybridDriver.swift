#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// The hybrid driver, for hosts with v1 controllers and a controller-less cgroup2 at
/// `unified/`. Limits go into the v1 hierarchies; every run is also in the unified
/// hierarchy, for PSI, `cgroup.kill` and CLONE_INTO_CGROUP.
///
/// v1 cannot do `memory.high`; its blkio throttle is flat and sees direct I/O only. The shim
/// emulates `memory.oom.group` by killing the run's unified cgroup on an OOM kill.
public struct HybridDriver: CgroupDriver {
    public let mode = CgroupMode.hybrid
    public let enforcement: Enforcement
    let mount: String
    /// Berth's root directory in each hierarchy, keyed by hierarchy name ("unified" for v2).
    let roots: [String: String]
    /// The v1 hierarchies in use, in a fixed order.
    let hierarchies: [String]

    static let wanted = ["cpu", "memory", "blkio", "pids", "cpuset"]

    /// - Parameters:
    ///   - mount: the tmpfs holding the hierarchies; a temporary directory in unit tests.
    ///   - explicitRoot: `--cgroup-root`, one cgroup path used in every hierarchy.
    ///   - ownCgroups: this process's cgroups (`ownCgroups()`); by default Berth's root is
    ///     `<own cgroup>/berth` in each hierarchy, never a hierarchy's root.
    public init(mount: String = "/sys/fs/cgroup", explicitRoot: String? = nil, ownCgroups: [String: String]) {
        self.mount = mount
        hierarchies = Self.wanted.filter { Sys.exists("\(mount)/\($0)/cgroup.procs") }
        var roots: [String: String] = [:]
        for h in hierarchies + ["unified"] {
            let own = ownCgroups[h == "unified" ? "" : h] ?? "/"
            let path = rootPath(explicit: explicitRoot, own: own)
            roots[h] = "\(mount)/\(h)" + (path == "/" ? "" : path)
        }
        self.roots = roots
        var e = Enforcement()
        e.cpuMax = hierarchies.contains("cpu")
        e.cpuWeight = e.cpuMax
        e.memoryMax = hierarchies.contains("memory")
        e.memoryHigh = false
        e.swapControl = Sys.exists("\(mount)/memory/memory.memsw.limit_in_bytes")
        e.oomGroup = e.memoryMax
        e.ioLimits = hierarchies.contains("blkio")
        e.ioBuffered = false
        e.ioHierarchical = false
        e.ioWeight = Sys.exists("\(mount)/blkio/blkio.bfq.weight")
        e.pids = hierarchies.contains("pids")
        e.devices = deviceProgramsWork(on: mount + "/unified")
        enforcement = e
    }

    /// Berth's root in hierarchy `h` (every hierarchy in use has one, set at init).
    func root(_ h: String) -> String { roots[h] ?? "\(mount)/\(h)" }

    func directories(_ suffix: String) -> [(hierarchy: String, path: String)] {
        (hierarchies + ["unified"]).map { ($0, root($0) + suffix) }
    }

    public func prepare() throws {
        var made = CreatedDirectories()
        do {
            for (h, tenants) in directories("/tenants") {
                try makeLevels(h, tenants, made: &made)
            }
        } catch {
            made.rollback()
            throw error
        }
    }

    /// Ensures every level from the hierarchy's mount down to `dir`, each readied (cpuset filled).
    func makeLevels(_ h: String, _ dir: String, made: inout CreatedDirectories) throws {
        let base = "\(mount)/\(h)"
        var levels: [String] = []
        var path = base
        for component in dir.dropFirst(base.count).split(separator: "/") {
            path += "/" + component
            levels.append(path)
        }
        guard let leaf = levels.popLast() else { return }
        try makeLeaf(leaf, below: levels, made: &made, leafMustBeNew: false) { try ready(h, $0) }
    }

    public var rootDescription: String { root("unified") }

    public func tenantLevel(_ tenant: TenantID) -> String { root("unified") + "/tenants/" + tenant.rawValue }

    public func delegationProblem() -> String? {
        directories("").lazy.compactMap { unwritableAncestor(of: $0.path) }.first
    }

    /// Readies a level of hierarchy `h`: a cpuset filled; the device program on the unified
    /// `tenants` level.
    func ready(_ h: String, _ dir: String) throws {
        try fillCpuset(h, dir)
        if h == "unified" && enforcement.devices && dir == root(h) + "/tenants" { try ensureDeviceFilter(dir) }
    }

    /// A new v1 cpuset cgroup starts with empty cpus and mems; nothing can join it until they
    /// are set. Fills them from the parent, first filling the parent if another launch has
    /// just made it and not yet filled it.
    func fillCpuset(_ hierarchy: String, _ dir: String) throws {
        guard hierarchy == "cpuset", dir.count > "\(mount)/cpuset".count else { return }
        let parent = String(dir[..<(dir.lastIndex(of: "/") ?? dir.endIndex)])
        for file in ["cpuset.cpus", "cpuset.mems"] {
            guard (Sys.read(dir + "/" + file) ?? "").trimmingWhitespace().isEmpty else { continue }
            var value = (Sys.read(parent + "/" + file) ?? "").trimmingWhitespace()
            if value.isEmpty {
                try fillCpuset(hierarchy, parent)
                value = (Sys.read(parent + "/" + file) ?? "").trimmingWhitespace()
            }
            try Sys.write(dir + "/" + file, value)
        }
    }

    /// The run's directory in hierarchy `h`.
    func runDirectory(_ h: String, _ place: RunPlace) -> String {
        root(h) + "/tenants/" + place.tenant.rawValue + "/" + place.leafName
    }

    public func runCgroup(for place: RunPlace) -> RunCgroup {
        let run = { (h: String) in self.runDirectory(h, place) }
        var stats: [(key: String, path: String)] = [
            ("cpu.stat", run("unified") + "/cpu.stat"),
            ("cpu.pressure", run("unified") + "/cpu.pressure"),
            ("memory.pressure", run("unified") + "/memory.pressure"),
            ("io.pressure", run("unified") + "/io.pressure"),
        ]
        let v1Stats = ["cpu": ["cpu.stat"],
                       "memory": ["memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.failcnt", "memory.memsw.failcnt", "memory.oom_control"],
                       "blkio": ["blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"],
                       "pids": ["pids.current", "pids.events"]]
        for h in hierarchies {
            for file in v1Stats[h] ?? [] { stats.append((h == "cpu" ? "v1.cpu.stat" : file, run(h) + "/" + file)) }
        }
        return RunCgroup(
            unifiedPath: run("unified"),
            // `tasks`, not `cgroup.procs`: the child moves only its own single thread ("0"),
            // which the kernel does without the threadgroup lock, whose write side waits for
            // an RCU grace period (6.5 to 26 ms per launch otherwise; see ARCHITECTURE.md).
            joinFiles: hierarchies.map { run($0) + "/tasks" },
            oomControlDirectory: hierarchies.contains("memory") ? run("memory") : nil,
            statFiles: stats,
            directories: (hierarchies + ["unified"]).map(run),
            applied: AppliedLimits(),
            warnings: [])
    }

    public func createRun(_ place: RunPlace, resources r: Resources, ioDevice: BlockDevice?) throws -> RunCgroup {
        let tenantSuffix = "/tenants/" + place.tenant.rawValue
        var made = CreatedDirectories()
        var applied = AppliedLimits()
        do {
            for h in hierarchies + ["unified"] {
                let levels = [root(h), root(h) + "/tenants", root(h) + tenantSuffix]
                try makeLeaf(runDirectory(h, place), below: levels, made: &made) { try ready(h, $0) }
            }
            let run = { (h: String) in self.runDirectory(h, place) }
            if hierarchies.contains("cpu") {
                if var quota = r.cpuQuotaMicros {
                    // v1 refuses a child's quota above its parent's (EINVAL), where v2 takes the
                    // smaller: under a tenant's limit the run gets at most the tenant's quota.
                    if let tenantQuota = v1Quota(root("cpu") + tenantSuffix) { quota = min(quota, tenantQuota) }
                    try Sys.write(run("cpu") + "/cpu.cfs_period_us", String(Resources.cpuPeriodMicros))
                    try Sys.write(run("cpu") + "/cpu.cfs_quota_us", String(quota))
                    applied.cpuQuotaMicros = quota
                    applied.cpuPeriodMicros = Resources.cpuPeriodMicros
                }
                if let weight = r.cpuWeight {
                    // cgroup v2 weight 100 is v1's 1024 shares.
                    try Sys.write(run("cpu") + "/cpu.shares", String(max(2, weight * 1024 / 100)))
                    applied.cpuWeight = weight
                }
            }
            if hierarchies.contains("memory"), let max = r.memoryMax {
                try Sys.write(run("memory") + "/memory.limit_in_bytes", String(max))
                applied.memoryMaxBytes = Resources.pageRounded(max)
                if enforcement.swapControl {
                    // memsw is memory plus swap, and must not be below limit_in_bytes: set it after.
                    let (total, overflow) = max.addingReportingOverflow(r.swapMax)
                    try Sys.write(run("memory") + "/memory.memsw.limit_in_bytes", String(overflow ? Int.max : total))
                    applied.swapMaxBytes = Resources.pageRounded(r.swapMax)
                }
            }
            if hierarchies.contains("blkio"), let io = r.io, let device = ioDevice {
                let d = device.majorMinor
                if let v = io.readBytesPerSecond { try Sys.write(run("blkio") + "/blkio.throttle.read_bps_device", "\(d) \(v)") }
                if let v = io.writeBytesPerSecond { try Sys.write(run("blkio") + "/blkio.throttle.write_bps_device", "\(d) \(v)") }
                if let v = io.readIOPS { try Sys.write(run("blkio") + "/blkio.throttle.read_iops_device", "\(d) \(v)") }
                if let v = io.writeIOPS { try Sys.write(run("blkio") + "/blkio.throttle.write_iops_device", "\(d) \(v)") }
                applied.ioDevice = d
            }
            if enforcement.ioWeight, let weight = r.ioWeight {
                // BFQ's weights run 1…1000 where cgroup v2's run 1…10000.
                try Sys.write(run("blkio") + "/blkio.bfq.weight", String(max(1, weight / 10)))
                applied.ioWeight = weight
            }
            if hierarchies.contains("pids"), let pids = r.pids {
                try Sys.write(run("pids") + "/pids.max", String(pids))
                applied.pids = pids
            }
            applied.devices = enforcement.devices   // the program on the unified <root>/tenants
        } catch {
            made.rollback()
            throw error
        }
        var cgroup = runCgroup(for: place)
        cgroup.applied = applied
        cgroup.warnings = enforcement.shortfalls(r) + (enforcement.devices ? [] : [noDeviceAllowList])
        return cgroup
    }

    public func setTenantLimits(_ tenant: TenantID, _ limits: TenantLimits) throws -> [String] {
        try limits.validate()
        let suffix = "/tenants/" + tenant.rawValue
        var made = CreatedDirectories()
        var cpuShortfall: String?
        do {
            // The level in every hierarchy, readied as `createRun` readies it (cpuset filled,
            // the device program on the unified `tenants`): a launch may be making it at this
            // moment. The limits are written as part of readying it, so a level a finishing run
            // removes meanwhile (ENOENT) is made and written again.
            for h in hierarchies + ["unified"] {
                let dir = root(h) + suffix
                try makeLeaf(dir, below: [root(h), root(h) + "/tenants"], made: &made, leafMustBeNew: false) { level in
                    try ready(h, level)
                    guard level == dir else { return }
                    switch h {
                    case "cpu": cpuShortfall = try writeTenantCPU(dir, limits.cpuQuotaMicros)
                    case "memory": try writeTenantMemory(dir, limits.memoryBytes)
                    case "pids": try writeLimit(dir + "/pids.max", limits.pids.map(String.init) ?? "max")
                    default: break
                    }
                }
            }
        } catch {
            made.rollback()
            throw error
        }
        return enforcement.shortfalls(limits) + (cpuShortfall.map { [$0] } ?? [])
    }

    /// v1 `cpu.cfs_quota_us` (-1: none) over `cpu.cfs_period_us` on the tenant's level. v1
    /// refuses a parent's quota below a child's own (EINVAL; v2 would take the smaller): that is
    /// returned as a shortfall naming the run, not thrown, so the tenant's other limits still
    /// hold; the runs started from then on are held to it (`createRun` clamps them).
    func writeTenantCPU(_ dir: String, _ quota: Int?) throws -> String? {
        guard let quota else {
            try writeLimit(dir + "/cpu.cfs_quota_us", "-1")
            return nil
        }
        try writeLimit(dir + "/cpu.cfs_period_us", String(Resources.cpuPeriodMicros))
        do {
            try writeLimit(dir + "/cpu.cfs_quota_us", String(quota))
            return nil
        } catch let error as BerthError where error.errno == EINVAL {
            let above = subdirectories(dir).compactMap { run in v1Quota(run).flatMap { $0 > quota ? (run, $0) : nil } }
            guard let (run, own) = above.first else { throw error }
            let now = v1Quota(dir).map { "\($0) µs per \(Resources.cpuPeriodMicros) µs" } ?? "unlimited"
            return "tenant cpu: cgroup v1 refuses a tenant's cpu quota (\(quota) µs per \(Resources.cpuPeriodMicros) µs) below one of its runs' own (\(run): \(own) µs; \(above.count) run(s) in all); the tenant's cpu limit stays \(now) until they end"
        }
    }

    /// v1 `memory.limit_in_bytes` (-1: none) on the tenant's level, and memory+swap
    /// (`memory.memsw.limit_in_bytes`) equal to it where the host has it, as runs have it with
    /// swap off.
    func writeTenantMemory(_ dir: String, _ bytes: Int?) throws {
        let memsw = enforcement.swapControl
            ? Sys.read(dir + "/memory.memsw.limit_in_bytes").flatMap { Int($0.trimmingWhitespace()) } ?? Int.max : nil
        for (file, value) in Self.tenantMemoryWrites(bytes, memsw: memsw) { try writeLimit(dir + "/" + file, value) }
    }

    /// The writes that set a v1 memory limit of `bytes` (nil: none) with memsw equal to it, in
    /// order, given memsw now (nil: the host has none). The kernel refuses a memsw below
    /// `limit_in_bytes` at every step (EINVAL): when raising, memsw goes first; when lowering,
    /// the limit goes first.
    static func tenantMemoryWrites(_ bytes: Int?, memsw: Int?) -> [(file: String, value: String)] {
        let value = bytes.map(String.init) ?? "-1"
        let limit = ("memory.limit_in_bytes", value)
        guard let memsw else { return [limit] }
        let both = ("memory.memsw.limit_in_bytes", value)
        return (bytes.map { $0 > memsw } ?? true) ? [both, limit] : [limit, both]
    }

    /// A v1 cpu cgroup's quota in µs per `Resources.cpuPeriodMicros`; nil when it has none (-1)
    /// or it cannot be read.
    func v1Quota(_ dir: String) -> Int? {
        guard let quota = Sys.read(dir + "/cpu.cfs_quota_us").flatMap({ Int($0.trimmingWhitespace()) }), quota > 0 else { return nil }
        let period = Sys.read(dir + "/cpu.cfs_period_us").flatMap { Int($0.trimmingWhitespace()) } ?? Resources.cpuPeriodMicros
        guard period > 0 else { return nil }
        let (scaled, overflow) = quota.multipliedReportingOverflow(by: Resources.cpuPeriodMicros)
        return overflow ? Int.max / period : scaled / period
    }

    /// The directories directly inside `dir` (a level's child cgroups).
    func subdirectories(_ dir: String) -> [String] {
        guard let stream = opendir(dir) else { return [] }
        defer { closedir(stream) }
        var out: [String] = []
        while let entry = readdir(stream) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(dir + "/" + name) }
        }
        return out.sorted()
    }

    public func removeIdleTree(tenant: TenantID?) {
        for suffix in (tenant.map { ["/tenants/" + $0.rawValue] } ?? []) + ["/tenants", ""] {
            for (_, dir) in directories(suffix) { _ = rmdir(dir) }
        }
    }

    public func stats(from files: [String: String]) -> RunStats {
        var s = RunStats.common(files)
        if let text = files["v1.cpu.stat"] {
            let v1 = StatParsers.flat(text)
            s.cpu.periods = v1["nr_periods"]
            s.cpu.throttledPeriods = v1["nr_throttled"]
            s.cpu.throttledMicros = v1["throttled_time"].map { $0 / 1000 }
        }
        s.memory.currentBytes = files["memory.usage_in_bytes"].flatMap(StatParsers.single)
        s.memory.peakBytes = files["memory.max_usage_in_bytes"].flatMap(StatParsers.single)
        // With swap off, memory+swap (memsw) may hit its equal limit first: count both.
        if let failcnt = files["memory.failcnt"].flatMap(StatParsers.single) {
            s.memory.maxEvents = failcnt + (files["memory.memsw.failcnt"].flatMap(StatParsers.single) ?? 0)
        }
        s.memory.oomKills = files["memory.oom_control"].map { StatParsers.flat($0)["oom_kill"] ?? 0 }
        if let bytes = files["blkio.throttle.io_service_bytes"] {
            let devices = StatParsers.blkio(bytes).filter { $0.key != "Total" }.values
            s.io.readBytes = devices.reduce(0) { $0 + ($1["Read"] ?? 0) }
            s.io.writeBytes = devices.reduce(0) { $0 + ($1["Write"] ?? 0) }
        }
        if let ops = files["blkio.throttle.io_serviced"] {
            let devices = StatParsers.blkio(ops).filter { $0.key != "Total" }.values
            s.io.readOps = devices.reduce(0) { $0 + ($1["Read"] ?? 0) }
            s.io.writeOps = devices.reduce(0) { $0 + ($1["Write"] ?? 0) }
        }
        return s
    }
}
