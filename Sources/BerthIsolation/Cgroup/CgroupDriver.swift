import BerthCore
import CBerthSys

/// A cgroup backend: v2, or hybrid (v1 limits plus a controller-less v2) for older hosts.
/// Chosen by `CgroupMode.detect`; its mount is injectable so tests can use a fake cgroupfs.
public protocol CgroupDriver: Sendable {
    var mode: CgroupMode { get }
    /// What this driver can enforce on this host.
    var enforcement: Enforcement { get }
    /// Makes sure Berth's root exists with the controllers it needs. Idempotent.
    func prepare() throws
    /// Why `prepare()` would fail on this host, found without changing anything (for
    /// `berth doctor`); nil when nothing stands in the way.
    func delegationProblem() -> String?
    /// Berth's root directory, as shown to people.
    var rootDescription: String { get }
    /// Creates `<root>/tenants/<tenant>/<job>-<run>` with the limits applied. On failure it
    /// leaves nothing behind. The returned value is what the shim needs.
    func createRun(_ place: RunPlace, resources: Resources, ioDevice: BlockDevice?) throws -> RunCgroup
    /// The run's cgroup as `createRun` describes it (its directories, join and stat files),
    /// rebuilt from the ids alone, the way a cgroup manager is rebuilt from a path: nothing is
    /// read or made. `applied` and `warnings` are empty. A process that did not create the run
    /// (a restarted daemon) reaches its cgroup through this; `createRun` uses it too, so there
    /// is one source of the paths.
    func runCgroup(for place: RunPlace) -> RunCgroup
    /// Removes a run's cgroup that no shim took over (a failed launch).
    func removeRun(_ cgroup: RunCgroup)
    /// Turns the raw text of the stat files (keyed as in `RunCgroup.statFiles`) into typed stats.
    func stats(from files: [String: String]) -> RunStats
    /// Removes the tenant's level (none when nil), then Berth's `tenants` and root levels, when
    /// no run is left in them. Best effort.
    func removeIdleTree(tenant: TenantID?)
    /// The tenant's level holds at least one run's cgroup.
    func hasRuns(tenant: TenantID) -> Bool
    /// The tenant's level in the cgroup v2 (unified) hierarchy.
    func tenantLevel(_ tenant: TenantID) -> String
    /// Writes a tenant's quota as kernel limits on its level (`<root>/tenants/<tenant-id>`), making
    /// the level if needed; nil in a field removes that limit ("max"). Returns what the host could
    /// not enforce (as `Enforcement.shortfalls` does), never silently dropped.
    ///
    /// The level is made and readied as `createRun` readies it (in every hierarchy on hybrid),
    /// so a launch making the same level at the same moment is no conflict. Lowering a limit
    /// below what the tenant's runs use now: on v2 the kernel reclaims and then OOM-kills
    /// inside the tenant (`memory.max`); on v1 the write fails (EBUSY), naming the file.
    /// The limits live with the level: `removeIdleTree` removes an idle tenant level limits
    /// and all, and a launch after that makes it again without them.
    func setTenantLimits(_ tenant: TenantID, _ limits: TenantLimits) throws -> [String]
}

extension CgroupDriver {
    /// `runCgroup(for:)` with what was applied and what could not be, when the caller knows them
    /// (recorded when the run started).
    public func runCgroup(for place: RunPlace, applied: AppliedLimits, warnings: [String] = []) -> RunCgroup {
        var cgroup = runCgroup(for: place)
        cgroup.applied = applied
        cgroup.warnings = warnings
        return cgroup
    }

    public func removeRun(_ cgroup: RunCgroup) {
        for dir in cgroup.directories { _ = rmdir(dir) }
    }

    public func hasRuns(tenant: TenantID) -> Bool {
        guard let dir = opendir(tenantLevel(tenant)) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            // Run cgroups are named `<job-id>-<run-id>`; the kernel's files are not directories.
            if entry.pointee.d_type == UInt8(DT_DIR) && entry.pointee.d_name.0 == UInt8(ascii: "j") { return true }
        }
        return false
    }
}

/// Nil when the nearest existing directory of `path` can be written; else why not.
func unwritableAncestor(of path: String) -> String? {
    var existing = path
    while !Sys.exists(existing) && existing.count > 1 {
        existing = String(existing[..<(existing.lastIndex(of: "/") ?? existing.startIndex)])
        if existing.isEmpty { existing = "/" }
    }
    return access(existing, W_OK) == 0 ? nil : "\(existing) is not writable by uid \(getuid())"
}

/// Where a run's cgroup lives in the layout: the run's ids.
public struct RunPlace: Sendable, Hashable {
    public var tenant: TenantID
    public var job: JobID
    public var run: RunID
    public init(tenant: TenantID, job: JobID, run: RunID) {
        self.tenant = tenant
        self.job = job
        self.run = run
    }
    /// The run's directory name: ids only, never a user-chosen name.
    public var leafName: String { "\(job.rawValue)-\(run.rawValue)" }

    /// Parses the three ids (as a status file or a `RunHandle` holds them); nil unless each has
    /// its shape (`t`, `j`, `r` and 16 hex digits).
    public init?(tenant: String, job: String, run: String) {
        guard let t = TenantID(tenant), let j = JobID(job), let r = RunID(run) else { return nil }
        self.init(tenant: t, job: j, run: r)
    }
}

/// A created run cgroup, described for the shim.
public struct RunCgroup: Sendable {
    /// The run's cgroup v2 directory: the clone target; cgroup.kill and cgroup.events live here.
    public var unifiedPath: String
    /// v1 `cgroup.procs` files the child joins before exec (hybrid only).
    public var joinFiles: [String]
    /// A v1 memory cgroup whose OOM kill must end the whole run (oom.group emulation).
    public var oomControlDirectory: String?
    /// Stat files the shim reads at the end: key → path.
    public var statFiles: [(key: String, path: String)]
    /// Directories to remove after the run, deepest first.
    public var directories: [String]
    /// The limits as written to the kernel.
    public var applied: AppliedLimits
    /// What was asked for but cannot be enforced here (empty in strict mode, which throws instead).
    public var warnings: [String]
}

/// The limits as the kernel holds them, after its rounding.
public struct AppliedLimits: Sendable, Equatable, Codable {
    public var cpuQuotaMicros: Int?
    public var cpuPeriodMicros: Int?
    public var cpuWeight: Int?
    public var memoryMaxBytes: Int?
    public var memoryHighBytes: Int?
    public var swapMaxBytes: Int?
    public var ioDevice: String?
    public var ioWeight: Int?
    public var pids: Int?
    /// Only the job's few devices are allowed (v1 `devices`, or a BPF device program on v2).
    public var devices = false
    /// The job's checkpoint subtree is limited to this many bytes (a project quota); nil: not limited.
    public var checkpointBytes: Int?
    /// Capabilities granted to the job as ambient ones, by libcap's names.
    public var capabilities: [String] = []
    public init() {}
}

/// What a driver can enforce. Anything asked for beyond it is a warning, or an error in strict mode.
public struct Enforcement: Sendable, Equatable {
    public var cpuMax = true
    public var cpuWeight = true
    public var memoryMax = true
    public var memoryHigh = true
    public var swapControl = true
    /// The whole run dies on an OOM kill (v2 `memory.oom.group`, or the shim's emulation on v1).
    public var oomGroup = true
    public var ioLimits = true
    /// I/O limits hold for buffered writes too (v2 with writeback accounting; not v1).
    public var ioBuffered = true
    /// A parent's I/O limit holds its children (not v1 blkio, which is flat).
    public var ioHierarchical = true
    /// Proportional I/O weight (v2 `io.weight`; v1 `blkio.weight`, only with the BFQ scheduler).
    public var ioWeight = true
    public var pids = true
    /// A device allow-list in the kernel (v1 `devices` controller, or BPF on v2).
    public var devices = true
    public init() {}

    /// The parts of `resources` this host cannot enforce, one sentence each.
    public func shortfalls(_ r: Resources) -> [String] {
        var out: [String] = []
        if r.cpuMicrocores != nil && !cpuMax { out.append("cpu: no cpu controller on this host; the limit cannot be enforced") }
        if r.cpuWeight != nil && !cpuWeight { out.append("cpu-weight: no cpu weight control on this host") }
        if r.memoryMax != nil && !memoryMax { out.append("memory: no memory controller on this host") }
        if r.memoryHigh != nil && !memoryHigh { out.append("memory-high: this host's cgroup v1 memory controller has no soft limit (memory.high)") }
        if r.memoryMax != nil && r.swapMax == 0 && !swapControl { out.append("swap: this host cannot turn swap off per job (no memory.memsw / memory.swap.max)") }
        if r.memoryMax != nil && r.swapMax > 0 && !swapControl { out.append("swap: this host cannot limit swap per job") }
        if r.io != nil {
            if !ioLimits { out.append("io: no I/O controller on this host") }
            else if !ioBuffered { out.append("io: cgroup v1 blkio limits only direct I/O here; buffered writes bypass them") }
        }
        if r.ioWeight != nil && !ioWeight { out.append("io-weight: this host's I/O scheduler has no proportional weight (needs io.weight, or BFQ on v1)") }
        if r.pids != nil && !pids { out.append("pids: no pids controller on this host") }
        return out
    }
}

/// Makes `leaf` and every missing level of `levels` (top down) above it, calling `ready` on
/// each level, found or made, before going below it, and on the leaf.
///
/// Any number of launches and finishing runs work on the same tree at once. A finishing run
/// removes idle levels (`removeIdleTree`) at any moment, and a level another launch has just
/// made may not be ready yet (empty v1 cpuset, controllers not yet enabled): so no level is
/// assumed, each is readied every time, and a level that vanished on the way (ENOENT, or
/// ENODEV from a file of a level being removed) means start again from the top. Once the leaf
/// exists its parents cannot be removed.
func makeLeaf(_ leaf: String, below levels: [String], made: inout CreatedDirectories, leafMustBeNew: Bool = true,
              ready: (String) throws -> Void) throws {
    for attempt in 1... {
        do {
            for level in levels {
                try made.ensure(level)
                try ready(level)
            }
            if try Sys.makeDirectory(leaf) {
                made = made.adding(leaf)
            } else if leafMustBeNew {
                throw BerthError(.cgroup, "run cgroup \(leaf) already exists")
            }
            try ready(leaf)
            return
        } catch let error as BerthError where [ENOENT, ENODEV].contains(error.errno) && attempt < 20
                    && (!leafMustBeNew || !made.made.contains(leaf)) {
            // ENODEV: a file of a level being removed at this very moment. A run's own leaf,
            // once made, is no one else's to remove; a shared one (`leafMustBeNew` false) is.
            continue
        }
    }
}

/// The device allow-list (`DeviceRule.jobDefaults`) is a BPF_PROG_TYPE_CGROUP_DEVICE program
/// attached to `<root>/tenants` in the cgroup2 hierarchy, on v2 and on hybrid hosts alike: the
/// kernel runs the programs of a task's cgroup2 cgroup before it looks at v1 `devices`, with
/// no v2 controller needed. It is attached once, atomically, where the v1 controller would
/// need nine writes per run and cannot be set on a shared level while launches run. With
/// BPF_F_ALLOW_MULTI it holds for every run below; two launchers racing may attach two
/// identical programs, which is harmless.
func ensureDeviceFilter(_ dir: String) throws {
    let fd = try Sys.retrying(.cgroup, "open \(dir)") { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(fd) }
    if berth_device_filter_count(fd) > 0 { return }
    var count: Int32 = 0
    let rules = berth_device_rules_default(&count)
    guard berth_device_filter_attach(fd, rules, count) == 0 else {
        let e = errno
        let log = String(cString: berth_device_filter_log())
        throw BerthError(.cgroup, "attach the device allow-list (BPF) to \(dir): \(Sys.errnoText(e))" + (log.isEmpty ? "" : "; verifier: \(log.prefix(200))"), errno: e)
    }
}

/// Device programs can be attached under `mount`: a real cgroup2 mount (not a fake in tests).
func deviceProgramsWork(on mount: String) -> Bool {
    (try? CgroupMode.magic(mount)) == CgroupMode.cgroup2Magic
}

let noDeviceAllowList = "devices: no device allow-list on this host (device programs need a cgroup2 mount); jobs' device access is limited only by the private /dev"

/// Creates the directories of a path level by level under `base`, remembering which it made,
/// so that a failure can remove exactly those.
struct CreatedDirectories {
    private(set) var made: [String] = []

    mutating func ensure(_ path: String, onCreate: (String) throws -> Void = { _ in }) throws {
        if try Sys.makeDirectory(path) {
            made.append(path)
            try onCreate(path)
        }
    }

    /// The same record with `path` added, for a directory made by hand.
    func adding(_ path: String) -> CreatedDirectories {
        var copy = self
        copy.made.append(path)
        return copy
    }

    /// Removes what was made, deepest first.
    func rollback() {
        for dir in made.reversed() { _ = dir.withCString { rmdir($0) } }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The cgroup path Berth uses as its root: `--cgroup-root`, or `<own cgroup>/berth`.
func rootPath(explicit: String?, own: String) -> String {
    if let explicit { return normalized(explicit) }
    return normalized(own + "/berth")
}

func normalized(_ path: String) -> String {
    "/" + path.split(separator: "/").joined(separator: "/")
}
