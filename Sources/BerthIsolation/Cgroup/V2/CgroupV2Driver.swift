#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// The cgroup v2 driver: one hierarchy, controllers enabled down `subtree_control`.
public struct CgroupV2Driver: CgroupDriver {
    public let mode = CgroupMode.v2
    public let enforcement: Enforcement
    let mount: String
    /// Berth's root as a cgroup path, e.g. `/berth`.
    let root: String
    let ownCgroup: String
    let processID: Int32
    /// The controllers Berth uses that the host offers, in the order written to subtree_control.
    let controllers: [String]

    /// - Parameters:
    ///   - mount: where cgroup2 is mounted; a temporary directory in unit tests.
    ///   - explicitRoot: `--cgroup-root`, a cgroup path; nil means `<own cgroup>/berth`.
    ///   - ownCgroup: this process's cgroup path (`0::/path` in /proc/self/cgroup).
    public init(mount: String = "/sys/fs/cgroup", explicitRoot: String? = nil, ownCgroup: String, processID: Int32 = getpid()) {
        self.mount = mount
        self.root = rootPath(explicit: explicitRoot, own: ownCgroup)
        self.ownCgroup = normalized(ownCgroup)
        self.processID = processID
        let available = Set((Sys.read(mount + "/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        controllers = ["cpu", "memory", "io", "pids"].filter(available.contains)
        var e = Enforcement()
        e.cpuMax = available.contains("cpu")
        e.cpuWeight = e.cpuMax
        e.memoryMax = available.contains("memory")
        e.memoryHigh = e.memoryMax
        e.swapControl = e.memoryMax
        e.oomGroup = e.memoryMax
        e.ioLimits = available.contains("io")
        e.ioBuffered = e.ioLimits
        e.ioHierarchical = e.ioLimits
        e.ioWeight = e.ioLimits
        e.pids = available.contains("pids")
        e.devices = deviceProgramsWork(on: mount)
        enforcement = e
    }

    func directory(_ cgroupPath: String) -> String { cgroupPath == "/" ? mount : mount + cgroupPath }
    var rootDirectory: String { directory(root) }
    func tenantDirectory(_ tenant: TenantID) -> String { rootDirectory + "/tenants/" + tenant.rawValue }
    public func tenantLevel(_ tenant: TenantID) -> String { tenantDirectory(tenant) }

    public func prepare() throws {
        var made = CreatedDirectories()
        var moved = false
        do {
            var path = ""
            for component in root.split(separator: "/") {
                path += "/" + component
                try made.ensure(directory(path))
            }
            // cgroup v2's no-internal-process rule: a cgroup whose children have controllers
            // may hold no process. If Berth sits on the path to its root, it moves itself into
            // a leaf first; anyone else there is a user's process it must not move.
            if ownCgroupIsOnThePath {
                let others = othersInOwnCgroup()
                if !others.isEmpty { throw notDelegated(directory(ownCgroup), others) }
                try made.ensure(rootDirectory + "/daemon")
                try Sys.write(rootDirectory + "/daemon/cgroup.procs", String(processID))
                moved = true
            }
            var level = "/"
            for component in [""] + root.split(separator: "/").map(String.init) {
                if !component.isEmpty { level = level == "/" ? "/" + component : level + "/" + component }
                try enableControllers(at: level, movedSelf: moved)
            }
            try makeLeaf(rootDirectory + "/tenants", below: [], made: &made, leafMustBeNew: false) { dir in
                try enableControllers(at: root + "/tenants")
                if enforcement.devices { try ensureDeviceFilter(dir) }
            }
        } catch {
            made.rollback()
            throw error
        }
    }

    public var rootDescription: String { rootDirectory }

    public func delegationProblem() -> String? {
        if let problem = unwritableAncestor(of: rootDirectory) { return problem }
        let others = ownCgroupIsOnThePath ? othersInOwnCgroup() : []
        return others.isEmpty ? nil : notDelegated(directory(ownCgroup), others).message
    }

    /// Berth's own cgroup lies on the path to its root, so it must leave it for a leaf.
    var ownCgroupIsOnThePath: Bool { ownCgroup != "/" && (root == ownCgroup || root.hasPrefix(ownCgroup + "/")) }

    func othersInOwnCgroup() -> [Int32] { processes(in: directory(ownCgroup)).filter { $0 != processID } }

    /// Writes `+ctrl` for each missing controller into the level's `cgroup.subtree_control`.
    /// `movedSelf`: Berth has just left its own cgroup, which the kernel no longer lists it in.
    func enableControllers(at level: String, movedSelf: Bool = false) throws {
        let dir = directory(level)
        let enabled = Set((Sys.read(dir + "/cgroup.subtree_control") ?? "")
            .split(whereSeparator: \.isWhitespace).map { $0.hasPrefix("+") ? String($0.dropFirst()) : String($0) })
        let missing = controllers.filter { !enabled.contains($0) }
        guard !missing.isEmpty else { return }
        if level != "/" {
            let inside = processes(in: dir).filter { !(movedSelf && $0 == processID) }
            if !inside.isEmpty { throw notDelegated(dir, inside) }
        }
        try Sys.write(dir + "/cgroup.subtree_control", missing.map { "+" + $0 }.joined(separator: " "))
    }

    func processes(in dir: String) -> [Int32] {
        (Sys.read(dir + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    func notDelegated(_ dir: String, _ pids: [Int32]) -> BerthError {
        let shown = pids.prefix(5).map(String.init).joined(separator: ", ")
        return BerthError(.notDelegated, """
            cgroup v2 forbids processes in a cgroup whose children have controllers, and \(dir) \
            holds processes Berth must not move (pids \(shown); a login shell, say). Fix one of: \
            run Berth as a systemd unit with Delegate=yes (cgroups/systemd/berth.service); \
            start it in its own scope: systemd-run --scope -p Delegate=yes berth …; \
            or give it an empty delegated cgroup: --cgroup-root /path
            """)
    }

    /// The stat files the shim reads at the end, in the run's directory.
    static let statNames = ["cpu.stat", "memory.current", "memory.peak", "memory.events", "io.stat",
                            "pids.current", "pids.events", "cpu.pressure", "memory.pressure", "io.pressure"]

    public func runCgroup(for place: RunPlace) -> RunCgroup {
        let runDir = tenantDirectory(place.tenant) + "/" + place.leafName
        return RunCgroup(unifiedPath: runDir, joinFiles: [], oomControlDirectory: nil,
                         statFiles: Self.statNames.map { ($0, runDir + "/" + $0) },
                         directories: [runDir], applied: AppliedLimits(), warnings: [])
    }

    public func createRun(_ place: RunPlace, resources r: Resources, ioDevice: BlockDevice?) throws -> RunCgroup {
        let tenantDir = tenantDirectory(place.tenant)
        var cgroup = runCgroup(for: place)
        let runDir = cgroup.unifiedPath
        var made = CreatedDirectories()
        var warnings = enforcement.shortfalls(r)
        var applied = AppliedLimits()
        do {
            let levels = [rootDirectory, rootDirectory + "/tenants", tenantDir]
            try makeLeaf(runDir, below: levels, made: &made) { dir in
                guard dir != runDir else { return }
                try readyLevel(dir)
            }
            if let quota = r.cpuQuotaMicros, enforcement.cpuMax {
                try Sys.write(runDir + "/cpu.max", "\(quota) \(Resources.cpuPeriodMicros)")
                applied.cpuQuotaMicros = quota
                applied.cpuPeriodMicros = Resources.cpuPeriodMicros
            }
            if let weight = r.cpuWeight, enforcement.cpuWeight {
                try Sys.write(runDir + "/cpu.weight", String(weight))
                applied.cpuWeight = weight
            }
            if enforcement.memoryMax {
                if let max = r.memoryMax {
                    try Sys.write(runDir + "/memory.max", String(max))
                    applied.memoryMaxBytes = Resources.pageRounded(max)
                }
                if let high = r.memoryHigh {
                    try Sys.write(runDir + "/memory.high", String(high))
                    applied.memoryHighBytes = Resources.pageRounded(high)
                }
                do {
                    try Sys.write(runDir + "/memory.swap.max", String(r.swapMax))
                    applied.swapMaxBytes = Resources.pageRounded(r.swapMax)
                } catch {
                    warnings.append("swap: this kernel has no swap accounting (memory.swap.max); swap is not controlled")
                }
                try Sys.write(runDir + "/memory.oom.group", "1")
            }
            if let io = r.io, let device = ioDevice, enforcement.ioLimits {
                var line = device.majorMinor
                if let v = io.readBytesPerSecond { line += " rbps=\(v)" }
                if let v = io.writeBytesPerSecond { line += " wbps=\(v)" }
                if let v = io.readIOPS { line += " riops=\(v)" }
                if let v = io.writeIOPS { line += " wiops=\(v)" }
                try Sys.write(runDir + "/io.max", line)
                applied.ioDevice = device.majorMinor
            }
            if let weight = r.ioWeight, enforcement.ioWeight {
                do {
                    try Sys.write(runDir + "/io.weight", "default \(weight)")
                    applied.ioWeight = weight
                } catch {
                    // io.weight exists only with an I/O cost model or BFQ on the device.
                    warnings.append("io-weight: this kernel has no io.weight for the run's cgroup; the weight is not applied")
                }
            }
            if let pids = r.pids, enforcement.pids {
                try Sys.write(runDir + "/pids.max", String(pids))
                applied.pids = pids
            }
            if enforcement.devices {
                applied.devices = true   // attached at <root>/tenants, which every run is below
            } else {
                warnings.append(noDeviceAllowList)
            }
        } catch {
            made.rollback()
            throw error
        }
        cgroup.applied = applied
        cgroup.warnings = warnings
        return cgroup
    }

    /// Readies a level above the runs: its controllers enabled for the level below; the
    /// device program on `<root>/tenants`.
    func readyLevel(_ dir: String) throws {
        try enableControllers(at: root + dir.dropFirst(rootDirectory.count))
        if dir == rootDirectory + "/tenants" && enforcement.devices { try ensureDeviceFilter(dir) }
    }

    public func setTenantLimits(_ tenant: TenantID, _ limits: TenantLimits) throws -> [String] {
        try limits.validate()
        let tenantDir = tenantDirectory(tenant)
        var made = CreatedDirectories()
        do {
            // The tenant level is readied as `createRun` readies it (a launch may be making it
            // at this moment), and its limits are written as part of readying it: a level a
            // finishing run removes meanwhile (ENOENT) is made and written again.
            try makeLeaf(tenantDir, below: [rootDirectory, rootDirectory + "/tenants"], made: &made, leafMustBeNew: false) { dir in
                try readyLevel(dir)
                guard dir == tenantDir else { return }
                if enforcement.cpuMax {
                    let quota = limits.cpuQuotaMicros.map(String.init) ?? "max"
                    try writeLimit(dir + "/cpu.max", "\(quota) \(Resources.cpuPeriodMicros)")
                }
                if enforcement.memoryMax { try writeLimit(dir + "/memory.max", limits.memoryBytes.map(String.init) ?? "max") }
                if enforcement.pids { try writeLimit(dir + "/pids.max", limits.pids.map(String.init) ?? "max") }
            }
        } catch {
            made.rollback()
            throw error
        }
        return enforcement.shortfalls(limits)
    }

    public func removeIdleTree(tenant: TenantID?) {
        let levels = (tenant.map { [tenantDirectory($0)] } ?? []) + [rootDirectory + "/tenants", rootDirectory]
        for dir in levels { _ = rmdir(dir) }
    }

    public func stats(from files: [String: String]) -> RunStats {
        var s = RunStats.common(files)
        let cpu = StatParsers.flat(files["cpu.stat"] ?? "")
        s.cpu.periods = cpu["nr_periods"]
        s.cpu.throttledPeriods = cpu["nr_throttled"]
        s.cpu.throttledMicros = cpu["throttled_usec"]
        s.memory.currentBytes = files["memory.current"].flatMap(StatParsers.single)
        s.memory.peakBytes = files["memory.peak"].flatMap(StatParsers.single)
        if let text = files["memory.events"] {
            let events = StatParsers.flat(text)
            s.memory.highEvents = events["high"]
            s.memory.maxEvents = events["max"]
            s.memory.oomEvents = events["oom"]
            s.memory.oomKills = events["oom_kill"]
        }
        if let text = files["io.stat"] {
            let devices = StatParsers.nested(text).values
            s.io.readBytes = devices.reduce(0) { $0 + ($1["rbytes"] ?? 0) }
            s.io.writeBytes = devices.reduce(0) { $0 + ($1["wbytes"] ?? 0) }
            s.io.readOps = devices.reduce(0) { $0 + ($1["rios"] ?? 0) }
            s.io.writeOps = devices.reduce(0) { $0 + ($1["wios"] ?? 0) }
        }
        return s
    }
}
