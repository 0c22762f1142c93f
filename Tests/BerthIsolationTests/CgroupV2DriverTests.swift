import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import BerthCore
@testable import BerthIsolation

@Suite struct CgroupV2DriverTests {
    let tenant = TenantID("t00000000000000a1")!

    func place() -> RunPlace { RunPlace(tenant: tenant, job: JobID(), run: RunID()) }

    @Test func enablesControllersDownThePathAndWritesLimits() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        try fs.seed("cgroup.subtree_control", "")
        let driver = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/test", processID: 4242)
        try driver.prepare()
        #expect(fs.read("cgroup.subtree_control") == "+cpu +memory +io +pids")
        #expect(fs.read("ci/cgroup.subtree_control") == "+cpu +memory +io +pids")
        #expect(fs.read("ci/tenants/cgroup.subtree_control") == "+cpu +memory +io +pids")
        #expect(!fs.exists("ci/daemon"), "Berth is not on the path to its root, so it stays where it is")

        var r = Resources()
        r.cpuMicrocores = 500_000
        r.cpuWeight = 200
        r.memoryMax = 10_000
        r.memoryHigh = 8192
        var io = IOLimits()
        io.writeBytesPerSecond = 1 << 20
        io.readIOPS = 50
        r.io = io
        r.ioWeight = 300
        r.pids = 32
        let p = place()
        let cg = try driver.createRun(p, resources: r, ioDevice: BlockDevice(major: 254, minor: 0))
        let dir = "ci/tenants/\(tenant.rawValue)/\(p.leafName)"
        #expect(cg.unifiedPath == fs.root + "/" + dir)
        #expect(fs.read("ci/tenants/\(tenant.rawValue)/cgroup.subtree_control") == "+cpu +memory +io +pids")
        #expect(fs.read(dir + "/cpu.max") == "50000 100000")
        #expect(fs.read(dir + "/cpu.weight") == "200")
        #expect(fs.read(dir + "/memory.max") == "10000")
        #expect(fs.read(dir + "/memory.high") == "8192")
        #expect(fs.read(dir + "/memory.swap.max") == "0")
        #expect(fs.read(dir + "/memory.oom.group") == "1")
        #expect(fs.read(dir + "/io.max") == "254:0 wbps=1048576 riops=50")
        #expect(fs.read(dir + "/io.weight") == "default 300")
        #expect(fs.read(dir + "/pids.max") == "32")
        #expect(cg.applied.memoryMaxBytes == 8192, "the summary shows the page-rounded limit")
        #expect(cg.joinFiles.isEmpty)
        // A fake cgroupfs is no cgroup2 mount: no device program can be attached, and the run says so.
        #expect(cg.warnings == [noDeviceAllowList])
        #expect(!cg.applied.devices)
        #expect(cg.directories == [cg.unifiedPath])
    }

    @Test func movesItselfIntoALeafWhenItsOwnCgroupIsOnThePath() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu io memory pids\n")
        try fs.seed("svc/cgroup.procs", "4242\n")
        let driver = CgroupV2Driver(mount: fs.root, ownCgroup: "/svc", processID: 4242)
        try driver.prepare()
        #expect(fs.read("svc/berth/daemon/cgroup.procs") == "4242")
        #expect(fs.read("svc/berth/cgroup.subtree_control") == "+cpu +memory +io +pids")
    }

    @Test func refusesACgroupSharedWithOtherProcessesAndLeavesNothing() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu io memory pids\n")
        try fs.seed("user/cgroup.procs", "4242\n777\n")
        let driver = CgroupV2Driver(mount: fs.root, ownCgroup: "/user", processID: 4242)
        #expect {
            try driver.prepare()
        } throws: { error in
            guard let e = error as? BerthError, e.code == .notDelegated else { return false }
            return e.message.contains("777") && e.message.contains("Delegate=yes")
                && e.message.contains("systemd-run --scope") && e.message.contains("--cgroup-root")
        }
        #expect(!fs.exists("user/berth"), "a refused prepare leaves no directory behind")
        #expect(fs.read("user/cgroup.procs") == "4242\n777\n")
    }

    @Test func aFailedLimitWriteRemovesTheRunCgroup() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu io memory pids\n")
        let driver = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/", processID: 1)
        try driver.prepare()
        let p = place()
        // A directory where the pids.max file should be makes that write fail.
        try fs.seed("ci/tenants/\(tenant.rawValue)/\(p.leafName)/pids.max/x", "")
        var r = Resources()
        r.pids = 10
        #expect(throws: BerthError.self) { try driver.createRun(p, resources: r, ioDevice: nil) }
    }

    @Test func missingControllersAreShortfalls() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu pids\n")
        let driver = CgroupV2Driver(mount: fs.root, ownCgroup: "/", processID: 1)
        var r = Resources()
        r.memoryMax = 1 << 20
        var io = IOLimits()
        io.writeBytesPerSecond = 1 << 20
        r.io = io
        let shortfalls = driver.enforcement.shortfalls(r)
        #expect(shortfalls.contains { $0.hasPrefix("memory:") })
        #expect(shortfalls.contains { $0.hasPrefix("io:") })
    }

    @Test func parsesFinalStats() throws {
        let fs = try FakeCgroupFS()
        let driver = CgroupV2Driver(mount: fs.root, ownCgroup: "/", processID: 1)
        let stats = driver.stats(from: [
            "cpu.stat": "usage_usec 700000\nuser_usec 600000\nsystem_usec 100000\nnr_periods 35\nnr_throttled 34\nthrottled_usec 2800000\nnr_bursts 0\nburst_usec 0\n",
            "memory.current": "4096\n", "memory.peak": "33554432\n",
            "memory.events": "low 0\nhigh 3\nmax 120\noom 1\noom_kill 1\noom_group_kill 1\n",
            "io.stat": "254:0 rbytes=4096 wbytes=4194304 rios=1 wios=16 dbytes=0 dios=0\n7:0 rbytes=100 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n",
            "pids.current": "0\n", "pids.events": "max 2302\n",
            "cpu.pressure": "some avg10=14.31 avg60=2.58 avg300=0.54 total=1586689\nfull avg10=14.00 avg60=2.50 avg300=0.50 total=1500000\n",
        ])
        #expect(stats.cpu.usageMicros == 700_000 && stats.cpu.throttledPeriods == 34 && stats.cpu.throttledMicros == 2_800_000)
        #expect(stats.memory.peakBytes == 33_554_432 && stats.memory.oomKills == 1 && stats.memory.highEvents == 3 && stats.memory.maxEvents == 120)
        #expect(stats.io.writeBytes == 4_194_304 && stats.io.readBytes == 4196 && stats.io.readOps == 3 && stats.io.writeOps == 16)
        #expect(stats.pids.maxEvents == 2302 && stats.pids.current == 0)
        #expect(stats.cpuPressure?.some.totalMicros == 1_586_689 && stats.cpuPressure?.full?.avg10 == 14.0)
        #expect(stats.memoryPressure == nil, "a missing file is nil, never zero")
    }

    @Test func writesTheTenantsLimitsOnItsLevelAndMaxForNone() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        let driver = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/test", processID: 4242)
        let level = "ci/tenants/\(tenant.rawValue)"
        var limits = TenantLimits()
        limits.cpuMicrocores = 1_500_000
        limits.memoryBytes = 64 << 20
        limits.pids = 100
        try driver.prepare()
        try FileManager.default.removeItem(atPath: fs.root + "/ci/tenants")   // a finishing run tidied it
        // The level is made as a launch makes it, controllers enabled down to it and below it.
        #expect(try driver.setTenantLimits(tenant, limits).isEmpty)
        for dir in ["", "ci/", "ci/tenants/", level + "/"] {
            #expect(fs.read(dir + "cgroup.subtree_control") == "+cpu +memory +io +pids", "\(dir)cgroup.subtree_control")
        }
        #expect(fs.read(level + "/cpu.max") == "150000 100000")
        #expect(fs.read(level + "/memory.max") == "67108864")
        #expect(fs.read(level + "/pids.max") == "100")
        #expect(driver.tenantLevel(tenant) == fs.root + "/" + level)

        // A run of the tenant goes below the limited level, which it leaves as it is.
        var r = Resources()
        r.memoryMax = 256 << 20
        let p = place()
        _ = try driver.createRun(p, resources: r, ioDevice: nil)
        #expect(fs.read("\(level)/\(p.leafName)/memory.max") == "268435456")
        #expect(fs.read(level + "/memory.max") == "67108864")

        // Set again on the existing level (a launch may just have made it): nil removes a limit.
        limits.memoryBytes = nil
        limits.cpuMicrocores = 1       // below the kernel's smallest quota: 1 ms per period
        #expect(try driver.setTenantLimits(tenant, limits).isEmpty)
        #expect(fs.read(level + "/cpu.max") == "1000 100000")
        #expect(fs.read(level + "/memory.max") == "max")
        #expect(try driver.setTenantLimits(tenant, TenantLimits()).isEmpty)
        #expect(fs.read(level + "/cpu.max") == "max 100000")
        #expect(fs.read(level + "/memory.max") == "max")
        #expect(fs.read(level + "/pids.max") == "max")
    }

    @Test func tenantLimitsWithoutTheirControllerAreShortfalls() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu pids\n")
        let driver = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/", processID: 1)
        var limits = TenantLimits()
        limits.memoryBytes = 64 << 20
        limits.pids = 10
        let shortfalls = try driver.setTenantLimits(tenant, limits)
        #expect(shortfalls == ["tenant memory: no memory controller on this host; the tenant's memory limit cannot be enforced"])
        let level = "ci/tenants/\(tenant.rawValue)"
        #expect(!fs.exists(level + "/memory.max"), "nothing is written for a controller the host lacks")
        #expect(fs.read(level + "/pids.max") == "10" && fs.read(level + "/cpu.max") == "max 100000")
        #expect(try driver.setTenantLimits(tenant, TenantLimits()).isEmpty, "removing a limit is never a shortfall")
    }

    @Test func aFailedTenantLimitNamesTheFileTheValueAndTheErrno() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu io memory pids\n")
        let driver = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/", processID: 1)
        // A directory where the memory.max file should be makes that write fail.
        try fs.seed("ci/tenants/\(tenant.rawValue)/memory.max/x", "")
        var limits = TenantLimits()
        limits.memoryBytes = 1 << 30
        #expect {
            _ = try driver.setTenantLimits(tenant, limits)
        } throws: { error in
            guard let e = error as? BerthError, e.code == .cgroup else { return false }
            return e.message == "write '1073741824' to \(fs.root)/ci/tenants/\(tenant.rawValue)/memory.max: Is a directory (errno 21)" && e.errno == EISDIR
        }
        limits.memoryBytes = -1
        #expect(throws: BerthError.invalid("tenant memory limit", "must not be negative", got: "-1")) { try driver.setTenantLimits(tenant, limits) }
    }

    @Test func aHugeTenantCPULimitDoesNotOverflow() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu io memory pids\n")
        let driver = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/", processID: 1)
        var limits = TenantLimits()
        limits.cpuMicrocores = Int.max
        _ = try driver.setTenantLimits(tenant, limits)
        // micro-cores × 100000 / 1e6, computed without the product (which would overflow).
        #expect(fs.read("ci/tenants/\(tenant.rawValue)/cpu.max") == "\(Int.max / 10) 100000")
    }

    @Test func rebuildsARunsCgroupFromItsIdsAsCreated() throws {
        let fs = try FakeCgroupFS()
        try fs.seed("cgroup.controllers", "cpu io memory pids\n")
        let driver = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/", processID: 1)
        try driver.prepare()
        let p = place()
        var r = Resources()
        r.memoryMax = 1 << 20
        let created = try driver.createRun(p, resources: r, ioDevice: nil)
        // Another process (a restarted daemon), with nothing but the ids.
        let rebuilt = CgroupV2Driver(mount: fs.root, explicitRoot: "/ci", ownCgroup: "/", processID: 2).runCgroup(for: p)
        expectSamePaths(created, rebuilt)
        #expect(rebuilt.applied == AppliedLimits() && rebuilt.warnings.isEmpty)
        #expect(driver.runCgroup(for: p, applied: created.applied, warnings: created.warnings).applied.memoryMaxBytes == 1 << 20)
    }
}

/// The parts of a run's cgroup that `runCgroup(for:)` rebuilds: every path the shim is given.
func expectSamePaths(_ a: RunCgroup, _ b: RunCgroup, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.unifiedPath == b.unifiedPath, sourceLocation: sourceLocation)
    #expect(a.joinFiles == b.joinFiles, sourceLocation: sourceLocation)
    #expect(a.oomControlDirectory == b.oomControlDirectory, sourceLocation: sourceLocation)
    #expect(a.statFiles.map { "\($0.key)=\($0.path)" } == b.statFiles.map { "\($0.key)=\($0.path)" }, sourceLocation: sourceLocation)
    #expect(a.directories == b.directories, sourceLocation: sourceLocation)
}
