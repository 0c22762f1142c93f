import Foundation
import Testing
import BerthCore
@testable import BerthIsolation

@Suite struct HybridDriverTests {
    let tenant = TenantID("t00000000000000a1")!

    func hybridFS() throws -> FakeCgroupFS {
        let fs = try FakeCgroupFS()
        for h in ["cpu", "memory", "blkio", "pids", "cpuset", "unified"] { try fs.seed("\(h)/cgroup.procs", "") }
        try fs.seed("memory/memory.memsw.limit_in_bytes", "9223372036854771712\n")
        try fs.seed("memory/jail/cgroup.procs", "")
        try fs.seed("cpuset/cpuset.cpus", "0-1\n")
        try fs.seed("cpuset/cpuset.mems", "0\n")
        return fs
    }

    @Test func createsTheRunInEveryHierarchyUnderItsOwnCgroups() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: ["memory": "/jail", "cpu": "/", "": "/"])
        try driver.prepare()
        var r = Resources()
        r.cpuMicrocores = 200_000
        r.cpuWeight = 50
        r.memoryMax = 32 << 20
        r.swapMax = 0
        var io = IOLimits()
        io.writeBytesPerSecond = 1 << 20
        io.readIOPS = 10
        r.io = io
        r.pids = 64
        let p = RunPlace(tenant: tenant, job: JobID(), run: RunID())
        let cg = try driver.createRun(p, resources: r, ioDevice: BlockDevice(major: 254, minor: 0))
        let suffix = "berth/tenants/\(tenant.rawValue)/\(p.leafName)"
        #expect(cg.unifiedPath == "\(fs.root)/unified/\(suffix)")
        #expect(fs.read("cpu/\(suffix)/cpu.cfs_period_us") == "100000")
        #expect(fs.read("cpu/\(suffix)/cpu.cfs_quota_us") == "20000")
        #expect(fs.read("cpu/\(suffix)/cpu.shares") == "512")
        #expect(fs.read("memory/jail/\(suffix)/memory.limit_in_bytes") == "33554432", "never at a hierarchy's root: under the cgroup we are in")
        #expect(fs.read("memory/jail/\(suffix)/memory.memsw.limit_in_bytes") == "33554432", "swap off: memsw equals the limit")
        #expect(fs.read("blkio/\(suffix)/blkio.throttle.write_bps_device") == "254:0 1048576")
        #expect(fs.read("blkio/\(suffix)/blkio.throttle.read_iops_device") == "254:0 10")
        #expect(fs.read("pids/\(suffix)/pids.max") == "64")
        #expect(fs.read("cpuset/\(suffix)/cpuset.cpus") == "0-1", "cpuset copied from the parent, or nothing could join")
        #expect(fs.read("cpuset/\(suffix)/cpuset.mems") == "0")
        #expect(cg.joinFiles.count == 5 && cg.joinFiles.allSatisfy { $0.hasSuffix("/tasks") },
                "the child moves its one thread through tasks, which skips the threadgroup lock")
        #expect(cg.oomControlDirectory == "\(fs.root)/memory/jail/\(suffix)")
        #expect(cg.directories.count == 6)
        #expect(cg.warnings.contains { $0.hasPrefix("io:") && $0.contains("direct I/O") })
    }

    @Test func fillsACpusetLevelAnotherLaunchMadeButHasNotFilledYet() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        try driver.prepare()
        // Another launch has just made the tenant level, and not yet copied cpus and mems.
        try fs.seed("cpuset/berth/tenants/\(tenant.rawValue)/cpuset.cpus", "\n")
        try fs.seed("cpuset/berth/tenants/\(tenant.rawValue)/cpuset.mems", "")
        let p = RunPlace(tenant: tenant, job: JobID(), run: RunID())
        _ = try driver.createRun(p, resources: Resources(), ioDevice: nil)
        #expect(fs.read("cpuset/berth/tenants/\(tenant.rawValue)/cpuset.cpus") == "0-1")
        #expect(fs.read("cpuset/berth/tenants/\(tenant.rawValue)/\(p.leafName)/cpuset.mems") == "0")
    }

    @Test func remakesALevelAFinishingRunRemoved() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        try driver.prepare()
        driver.removeIdleTree(tenant: tenant)          // a finishing run tidies the idle tree
        #expect(!fs.exists("cpu/berth"))
        let p = RunPlace(tenant: tenant, job: JobID(), run: RunID())
        let cg = try driver.createRun(p, resources: Resources(), ioDevice: nil)
        #expect(fs.exists("cpu/berth/tenants/\(tenant.rawValue)/\(p.leafName)") && cg.directories.count == 6)
        #expect(fs.read("cpuset/berth/cpuset.cpus") == "0-1")
    }

    @Test func knowsWhetherATenantStillHasRuns() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        try driver.prepare()
        #expect(!driver.hasRuns(tenant: tenant))
        let cg = try driver.createRun(RunPlace(tenant: tenant, job: JobID(), run: RunID()), resources: Resources(), ioDevice: nil)
        #expect(driver.hasRuns(tenant: tenant))
        for dir in cg.directories { try FileManager.default.removeItem(atPath: dir) }
        #expect(!driver.hasRuns(tenant: tenant))
    }

    @Test func saysSoWhenNoDeviceProgramCanBeAttached() throws {
        // The allow-list is a BPF program on the unified hierarchy; a fake cgroupfs is none, and
        // the v1 devices controller is not used (the real thing is proven by berth-checks).
        let fs = try hybridFS()
        try fs.seed("devices/cgroup.procs", "")
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        let cg = try driver.createRun(RunPlace(tenant: tenant, job: JobID(), run: RunID()), resources: Resources(), ioDevice: nil)
        #expect(!driver.enforcement.devices && !cg.applied.devices)
        #expect(cg.warnings.contains { $0.hasPrefix("devices: no device allow-list") })
        #expect(!fs.exists("devices/berth"))
    }

    @Test func reportsWhatV1CannotEnforce() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        #expect(!driver.enforcement.memoryHigh && !driver.enforcement.ioBuffered && !driver.enforcement.ioHierarchical)
        var r = Resources()
        r.memoryMax = 64 << 20
        r.memoryHigh = 32 << 20
        r.ioWeight = 500
        #expect(driver.enforcement.shortfalls(r) == [
            "memory-high: this host's cgroup v1 memory controller has no soft limit (memory.high)",
            "io-weight: this host's I/O scheduler has no proportional weight (needs io.weight, or BFQ on v1)",
        ])
    }

    @Test func explicitRootAppliesInEveryHierarchy() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, explicitRoot: "/ci", ownCgroups: ["memory": "/jail"])
        try driver.prepare()
        for h in ["cpu", "memory", "blkio", "pids", "cpuset", "unified"] { #expect(fs.exists("\(h)/ci/tenants")) }
        driver.removeIdleTree(tenant: tenant)
        for h in ["cpu", "memory", "unified"] { #expect(!fs.exists("\(h)/ci")) }
    }

    @Test func rebuildsARunsCgroupFromItsIdsAsCreated() throws {
        let fs = try hybridFS()
        let own = ["memory": "/jail", "cpu": "/", "": "/"]
        let driver = HybridDriver(mount: fs.root, ownCgroups: own)
        try driver.prepare()
        let p = RunPlace(tenant: tenant, job: JobID(), run: RunID())
        var r = Resources()
        r.memoryMax = 32 << 20
        let created = try driver.createRun(p, resources: r, ioDevice: nil)
        let rebuilt = HybridDriver(mount: fs.root, ownCgroups: own).runCgroup(for: p)
        expectSamePaths(created, rebuilt)
        #expect(rebuilt.directories.count == 6 && rebuilt.oomControlDirectory?.contains("/memory/jail/") == true)
        #expect(rebuilt.directories.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        #expect(rebuilt.applied == AppliedLimits())
    }

    @Test func writesTheTenantsLimitsInEveryHierarchyAndNoneForNil() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: ["memory": "/jail", "cpu": "/", "": "/"])
        var limits = TenantLimits()
        limits.cpuMicrocores = 500_000
        limits.memoryBytes = 64 << 20
        limits.pids = 100
        // No prepare(): the level is made in every hierarchy, as a launch makes it.
        #expect(try driver.setTenantLimits(tenant, limits).isEmpty)
        let level = "berth/tenants/\(tenant.rawValue)"
        for h in ["cpu", "memory/jail", "blkio", "pids", "cpuset", "unified"] { #expect(fs.exists("\(h)/\(level)"), "\(h)") }
        #expect(fs.read("cpu/\(level)/cpu.cfs_period_us") == "100000")
        #expect(fs.read("cpu/\(level)/cpu.cfs_quota_us") == "50000")
        #expect(fs.read("memory/jail/\(level)/memory.limit_in_bytes") == "67108864")
        #expect(fs.read("memory/jail/\(level)/memory.memsw.limit_in_bytes") == "67108864", "memory+swap: no swap beyond the limit, as runs")
        #expect(fs.read("pids/\(level)/pids.max") == "100")
        #expect(fs.read("cpuset/\(level)/cpuset.cpus") == "0-1", "readied as a launch readies it, or no run could join below")
        #expect(fs.read("cpuset/berth/tenants/cpuset.mems") == "0")

        // A run of the tenant goes below, with its own limits; the tenant's stay.
        var r = Resources()
        r.memoryMax = 256 << 20
        let p = RunPlace(tenant: tenant, job: JobID(), run: RunID())
        let cg = try driver.createRun(p, resources: r, ioDevice: nil)
        #expect(cg.directories.count == 6 && fs.read("memory/jail/\(level)/\(p.leafName)/memory.limit_in_bytes") == "268435456")
        #expect(fs.read("memory/jail/\(level)/memory.limit_in_bytes") == "67108864")

        // nil removes a limit: v1's word for none is -1 (pids.max takes "max").
        #expect(try driver.setTenantLimits(tenant, TenantLimits()).isEmpty)
        #expect(fs.read("cpu/\(level)/cpu.cfs_quota_us") == "-1")
        #expect(fs.read("memory/jail/\(level)/memory.limit_in_bytes") == "-1")
        #expect(fs.read("memory/jail/\(level)/memory.memsw.limit_in_bytes") == "-1")
        #expect(fs.read("pids/\(level)/pids.max") == "max")
    }

    @Test func memswIsRaisedFirstAndLoweredLast() throws {
        // The kernel refuses a memsw below limit_in_bytes at every step.
        let writes = { (bytes: Int?, memsw: Int?) in HybridDriver.tenantMemoryWrites(bytes, memsw: memsw).map { "\($0.file)=\($0.value)" } }
        #expect(writes(64 << 20, 32 << 20) == ["memory.memsw.limit_in_bytes=67108864", "memory.limit_in_bytes=67108864"])
        #expect(writes(32 << 20, 64 << 20) == ["memory.limit_in_bytes=33554432", "memory.memsw.limit_in_bytes=33554432"])
        #expect(writes(32 << 20, 32 << 20) == ["memory.limit_in_bytes=33554432", "memory.memsw.limit_in_bytes=33554432"])
        #expect(writes(nil, 32 << 20) == ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"])
        #expect(writes(32 << 20, nil) == ["memory.limit_in_bytes=33554432"], "a host without memsw")

        // The driver reads memsw from the level: a write made to fail shows which went first.
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        let level = "memory/berth/tenants/\(tenant.rawValue)"
        try fs.seed(level + "/memory.memsw.limit_in_bytes", "33554432\n")
        try fs.seed(level + "/memory.limit_in_bytes/x", "")      // fails
        var limits = TenantLimits()
        limits.memoryBytes = 64 << 20
        #expect(throws: BerthError.self) { try driver.setTenantLimits(tenant, limits) }
        #expect(fs.read(level + "/memory.memsw.limit_in_bytes") == "67108864")
    }

    @Test func aFailedTenantLimitNamesItAndRemovesTheLevelsItMade() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        try fs.seed("pids/berth/tenants/\(tenant.rawValue)/pids.max/x", "")
        var limits = TenantLimits()
        limits.pids = 64
        #expect {
            _ = try driver.setTenantLimits(tenant, limits)
        } throws: { error in
            (error as? BerthError)?.message == "write '64' to \(fs.root)/pids/berth/tenants/\(tenant.rawValue)/pids.max: Is a directory (errno 21)"
        }
        // Made for the call, removed on its failure. (A fake level holding a written file, as the
        // cpu and memory ones do here, cannot be removed the way a real cgroup can.)
        #expect(!fs.exists("blkio/berth"))
        #expect(!fs.exists("cpuset/berth"), "pids fails before the cpuset level is reached")
        #expect(fs.exists("pids/berth/tenants/\(tenant.rawValue)"), "a level the call did not make stays")
    }

    @Test func aRunIsHeldToItsTenantsCPUQuota() throws {
        // v1 refuses a child's quota above its parent's (EINVAL) where v2 takes the smaller:
        // the run is given the tenant's.
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        var limits = TenantLimits()
        limits.cpuMicrocores = 1_000_000
        _ = try driver.setTenantLimits(tenant, limits)
        var r = Resources()
        r.cpuMicrocores = 2_500_000
        let p = RunPlace(tenant: tenant, job: JobID(), run: RunID())
        let cg = try driver.createRun(p, resources: r, ioDevice: nil)
        #expect(fs.read("cpu/berth/tenants/\(tenant.rawValue)/\(p.leafName)/cpu.cfs_quota_us") == "100000")
        #expect(cg.applied.cpuQuotaMicros == 100_000, "applied shows what the kernel holds")
        r.cpuMicrocores = 300_000
        let q = RunPlace(tenant: tenant, job: JobID(), run: RunID())
        _ = try driver.createRun(q, resources: r, ioDevice: nil)
        #expect(fs.read("cpu/berth/tenants/\(tenant.rawValue)/\(q.leafName)/cpu.cfs_quota_us") == "30000")
    }

    @Test func aTenantCPUQuotaBelowARunsIsAShortfallNotAnError() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        let level = "cpu/berth/tenants/\(tenant.rawValue)"
        let run = level + "/j0000000000000001-r0000000000000001"
        try fs.seed(run + "/cpu.cfs_quota_us", "200000\n")
        try fs.seed(run + "/cpu.cfs_period_us", "100000\n")
        // A file that refuses the value with EINVAL, as the kernel's does a quota below a
        // child's: /proc's oom_score_adj takes -1000…1000 only.
        try FileManager.default.createSymbolicLink(atPath: fs.root + "/" + level + "/cpu.cfs_quota_us", withDestinationPath: "/proc/self/oom_score_adj")
        var limits = TenantLimits()
        limits.cpuMicrocores = 500_000
        limits.memoryBytes = 64 << 20
        let shortfalls = try driver.setTenantLimits(tenant, limits)
        #expect(shortfalls.count == 1)
        #expect(shortfalls.first?.hasPrefix("tenant cpu: cgroup v1 refuses a tenant's cpu quota (50000 µs per 100000 µs) below one of its runs' own (\(fs.root)/\(run): 200000 µs; 1 run(s) in all)") == true,
                "\(shortfalls)")
        #expect(fs.read("memory/berth/tenants/\(tenant.rawValue)/memory.limit_in_bytes") == "67108864", "the tenant's other limits still hold")
    }

    @Test func parsesV1Stats() throws {
        let fs = try hybridFS()
        let driver = HybridDriver(mount: fs.root, ownCgroups: [:])
        let s = driver.stats(from: [
            "cpu.stat": "usage_usec 713423\nuser_usec 713000\nsystem_usec 423\n",
            "v1.cpu.stat": "nr_periods 35\nnr_throttled 35\nthrottled_time 2790000000\nnr_bursts 0\nburst_time 0\n",
            "memory.max_usage_in_bytes": "33554432\n", "memory.usage_in_bytes": "237568\n",
            "memory.failcnt": "5\n", "memory.memsw.failcnt": "2\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            "blkio.throttle.io_service_bytes": "254:0 Read 4096\n254:0 Write 4194304\n254:0 Sync 0\n254:0 Async 0\n254:0 Total 4198400\nTotal 4198400\n",
            "blkio.throttle.io_serviced": "254:0 Read 1\n254:0 Write 16\nTotal 17\n",
            "pids.current": "3\n", "pids.events": "max 12\n",
        ])
        #expect(s.cpu.usageMicros == 713_423 && s.cpu.periods == 35 && s.cpu.throttledMicros == 2_790_000)
        #expect(s.memory.peakBytes == 33_554_432 && s.memory.maxEvents == 7 && s.memory.oomKills == 1 && s.memory.highEvents == nil)
        #expect(s.io.readBytes == 4096 && s.io.writeBytes == 4_194_304 && s.io.writeOps == 16)
        #expect(s.pids.current == 3 && s.pids.maxEvents == 12)
    }
}
