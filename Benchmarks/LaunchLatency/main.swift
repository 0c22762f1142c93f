// Launch latency: request → exited for /bin/true in a fresh limited cgroup, through the real
// Launcher (cgroup, limits, the shim, clone3 into the cgroup, exec, wait, teardown, status
// file). Beside it, in the same run and interleaved, the floor: plain C doing the same kernel
// work with no supervisor. Prints p50/p99 of both and their ratio.
//
//   swift run -c release berth-bench [RUNS]
#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import CLaunchFloor
import Foundation
import Synchronization

func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

let usage = "usage: berth-bench [RUNS]   (RUNS: launches of each kind, 1 to 1000000; default 1000)\n       berth-bench --floor-total N   (the floor only: N launches one after another, total time)\n       berth-bench --shaped-at-once N   (N shaped runs started at once and torn down, beside one at a time)"
var arguments = Array(CommandLine.arguments.dropFirst())
var floorTotal: Int?
if arguments.first == "--floor-total", arguments.count == 2, let n = Int(arguments[1]), (1...1_000_000).contains(n) {
    floorTotal = n
    arguments = []
}
var shapedAtOnce: Int?
if arguments.first == "--shaped-at-once", arguments.count == 2, let n = Int(arguments[1]), (1...1000).contains(n) {
    shapedAtOnce = n
    arguments = []
}
if arguments.contains("--help") || arguments.contains("-h") { print(usage); exit(0) }
guard arguments.count <= 1, let runs = arguments.isEmpty ? 1000 : Int(arguments[0]), (1...1_000_000).contains(runs) else {
    FileHandle.standardError.write(Data("berth-bench: RUNS must be a number from 1 to 1000000\n\(usage)\n".utf8))
    exit(2)
}
let scratch = "/var/tmp/berth-bench-\(getpid())"
var layout = HostLayout()
layout.runtimeDirectory = scratch + "/run"
layout.stateDirectory = scratch + "/state"
layout.checkpointRoot = scratch + "/state/checkpoints"
let launcher = try Launcher(driver: try Launcher.hostDriver(cgroupRoot: "/berth-bench"), layout: layout)
/// The same launcher with the daemon's pool of ready network namespaces.
let pool = try NetworkNamespacePool(capacity: 16)
let pooledLauncher = { var l = launcher; l.networkNamespaces = pool; return l }()
var resources = Resources()
resources.cpuMicrocores = 500_000
resources.memoryMax = 64 << 20
resources.pids = 64

/// One launch through the real Launcher; `sandboxed` adds namespaces, the mount tree, the
/// tenant's uid and seccomp (what every tenant's job gets), with the network `network`.
@MainActor func berthLaunch(sandboxed: Bool = false, network: NetworkMode = .none, pooled: Bool = false) throws -> RunResult {
    var spec = RunSpec(argv: ["/bin/true"], environment: [], workingDirectory: "/")
    spec.resources = resources
    spec.sandboxed = sandboxed
    spec.network = network
    let result = try (pooled ? pooledLauncher : launcher).start(spec).wait()
    guard result.ending == .exited(code: 0), result.cgroupRemoved else { throw BerthError(.launch, "bench run failed: \(result.ending.summary)") }
    if sandboxed { try launcher.removeCheckpoints(spec) }
    try? FileManager.default.removeItem(atPath: launcher.statusPath(spec.runID))
    return result
}

/// Start to running (the job exec'd: the shim's `running` status) for a sandboxed job that
/// sleeps, so the status is caught before the run ends.
@MainActor func toRunning(network: NetworkMode, pooled: Bool = false) throws -> Double {
    var spec = RunSpec(argv: ["/bin/sleep", "0.02"], environment: [], workingDirectory: "/")
    spec.resources = resources
    spec.network = network
    if network == .shaped { spec.egressBitsPerSecond = 100_000_000; spec.ingressBitsPerSecond = 100_000_000 }
    let t = nowNanos()
    let run = try (pooled ? pooledLauncher : launcher).start(spec)
    while ShimStatus.read(run.statusPath) == nil { usleep(100) }
    let millis = Double(nowNanos() - t) / 1e6
    _ = run.wait()
    try launcher.removeCheckpoints(spec)
    try? FileManager.default.removeItem(atPath: run.statusPath)
    return millis
}

/// A sandboxed shaped /bin/true, start to ended.
@Sendable func shapedRun(_ launcher: Launcher, _ resources: Resources) throws -> RunResult {
    var spec = RunSpec(argv: ["/bin/true"], environment: [], workingDirectory: "/")
    spec.resources = resources
    spec.network = .shaped
    spec.egressBitsPerSecond = 100_000_000
    spec.ingressBitsPerSecond = 100_000_000
    let result = try launcher.start(spec).wait()
    try launcher.removeCheckpoints(spec)
    try? FileManager.default.removeItem(atPath: launcher.statusPath(spec.runID))
    guard result.ending == .exited(code: 0), result.cgroupRemoved else { throw BerthError(.launch, "a shaped run ended as \(result.ending.summary)") }
    return result
}

// The floor's plan: the same directories and limit files as one Berth run, under the same parents.
let sample = try berthLaunch()
let parents = sample.cgroup.directories.map { ($0 as NSString).deletingLastPathComponent }
var floorIndex = 0
@MainActor func floorLaunch() throws {
    floorIndex += 1
    let leaf = "floor-\(floorIndex)"
    let dirs = parents.map { $0 + "/" + leaf }
    var writes: [(String, String)] = []
    var joins: [String] = []
    var unified = dirs[0]
    for dir in dirs {
        if launcher.driver.mode == .v2 || dir.contains("/unified/") { unified = dir }
        if launcher.driver.mode == .v2 {
            writes += [(dir + "/cpu.max", "50000 100000"), (dir + "/memory.max", String(64 << 20)),
                       (dir + "/memory.swap.max", "0"), (dir + "/memory.oom.group", "1"), (dir + "/pids.max", "64")]
            continue
        }
        if dir.contains("/unified/") { continue }
        joins.append(dir + "/tasks")      // as Berth joins: one thread, no threadgroup lock
        if dir.contains("/cpu/") { writes += [(dir + "/cpu.cfs_period_us", "100000"), (dir + "/cpu.cfs_quota_us", "50000")] }
        if dir.contains("/memory/") { writes += [(dir + "/memory.limit_in_bytes", String(64 << 20)), (dir + "/memory.memsw.limit_in_bytes", String(64 << 20))] }
        if dir.contains("/pids/") { writes += [(dir + "/pids.max", "64")] }
        if dir.contains("/cpuset/") {
            let parent = (dir as NSString).deletingLastPathComponent
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = (try? String(contentsOfFile: parent + "/" + f, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                writes.append((dir + "/" + f, v))
            }
        }
    }
    let cDirs = dirs.map { strdup($0) }, cFiles = writes.map { strdup($0.0) }, cValues = writes.map { strdup($0.1) }, cJoins = joins.map { strdup($0) }
    defer { (cDirs + cFiles + cValues + cJoins).forEach { free($0) } }
    let status = cDirs.map { UnsafePointer($0) }.withUnsafeBufferPointer { d in
        cFiles.map { UnsafePointer($0) }.withUnsafeBufferPointer { f in
            cValues.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                cJoins.map { UnsafePointer($0) }.withUnsafeBufferPointer { j in
                    berth_floor_run(d.baseAddress, Int32(d.count), f.baseAddress, v.baseAddress, Int32(f.count),
                                    unified, j.baseAddress, Int32(j.count), "/bin/true")
                }
            }
        }
    }
    guard status == 0 else { throw BerthError(.launch, "floor run failed: status \(status), errno \(errno)") }
}

if let n = floorTotal {
    for _ in 0..<20 { try floorLaunch() }
    let t = nowNanos()
    for _ in 0..<n { try floorLaunch() }
    let total = Double(nowNanos() - t) / 1e9
    launcher.removeIdleTree(.default)
    try? FileManager.default.removeItem(atPath: scratch)
    print(String(format: "%.2f s (%.2f ms per launch)", total, total * 1000 / Double(n)))
    exit(0)
}

if let n = shapedAtOnce {
    // One at a time first, for the per-run figure beside the burst.
    var single: [Double] = []
    for i in 0..<30 {
        let t = nowNanos()
        _ = try shapedRun(launcher, resources)
        if i >= 5 { single.append(Double(nowNanos() - t) / 1e6) }
    }
    single.sort()
    let failures = Mutex(0), errors = Mutex<[String]>([])
    let group = DispatchGroup()
    let (l, r) = (launcher, resources)
    let t = nowNanos()
    for _ in 0..<n {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            do { _ = try shapedRun(l, r) }
            catch {
                failures.withLock { $0 += 1 }
                errors.withLock { if $0.count < 5 { $0.append("\(error)") } }
            }
        }
    }
    group.wait()
    let wall = Double(nowNanos() - t) / 1e6
    let veths = ((try? String(contentsOfFile: "/proc/net/dev", encoding: .utf8)) ?? "").split(separator: "\n")
        .filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("bh") }.count
    let leases = ((try? FileManager.default.contentsOfDirectory(atPath: launcher.layout.leaseDirectory)) ?? []).count
    try? NetworkFilter.remove()
    pool.shutdown()
    launcher.removeIdleTree(.default)
    try? FileManager.default.removeItem(atPath: scratch)
    print("\(n) shaped runs (/bin/true, 100 Mbit each way) started at once and torn down (\(launcher.driver.mode.rawValue) driver)")
    print(String(format: "  one at a time: p50 %.2f ms per run (start to ended)", percentile(single, 0.5)))
    print(String(format: "  %d at once: %.0f ms in all, %.2f ms per run; failures %d%@; left behind: %d veths, %d leases",
                 n, wall, wall / Double(n), failures.withLock { $0 }, errors.withLock { $0.isEmpty ? "" : " (" + $0.joined(separator: "; ") + ")" }, veths, leases))
    exit(failures.withLock { $0 } == 0 && veths == 0 && leases == 0 ? 0 : 1)
}

var berth: [Double] = [], sandboxed: [Double] = [], hostNetwork: [Double] = [], pooledNone: [Double] = [], floor: [Double] = []
for _ in 0..<20 { _ = try berthLaunch(); _ = try berthLaunch(sandboxed: true); _ = try berthLaunch(sandboxed: true, network: .host); _ = try berthLaunch(sandboxed: true, pooled: true); try floorLaunch() }       // warm up
let block = 50
var done = 0
while done < runs {
    let n = min(block, runs - done)
    for _ in 0..<n { let t = nowNanos(); _ = try berthLaunch(); berth.append(Double(nowNanos() - t) / 1e6) }
    for _ in 0..<n { let t = nowNanos(); _ = try berthLaunch(sandboxed: true); sandboxed.append(Double(nowNanos() - t) / 1e6) }
    for _ in 0..<n { let t = nowNanos(); _ = try berthLaunch(sandboxed: true, network: .host); hostNetwork.append(Double(nowNanos() - t) / 1e6) }
    // The pool refills between launches, as the daemon's does between submissions.
    for _ in 0..<n { let t = nowNanos(); _ = try berthLaunch(sandboxed: true, pooled: true); pooledNone.append(Double(nowNanos() - t) / 1e6) }
    for _ in 0..<n { let t = nowNanos(); try floorLaunch(); floor.append(Double(nowNanos() - t) / 1e6) }
    done += n
}
// Start to running, the network's setup alone: host, none made at launch, none from the pool.
var startHost: [Double] = [], startNone: [Double] = [], startPooled: [Double] = [], startShaped: [Double] = [], startShapedPooled: [Double] = []
for i in 0..<min(runs, 200) + 10 {
    let h = try toRunning(network: .host), n = try toRunning(network: .none), p = try toRunning(network: .none, pooled: true)
    let s = try toRunning(network: .shaped), sp = try toRunning(network: .shaped, pooled: true)
    if i >= 10 { startHost.append(h); startNone.append(n); startPooled.append(p); startShaped.append(s); startShapedPooled.append(sp) }
}
launcher.removeIdleTree(.default)
try? FileManager.default.removeItem(atPath: scratch)
startHost.sort(); startNone.sort(); startPooled.sort(); startShaped.sort(); startShapedPooled.sort()
pool.shutdown()
// The shaped rows installed the host's filter table: the benchmark leaves nothing behind.
try? NetworkFilter.remove()
berth.sort()
sandboxed.sort()
hostNetwork.sort()
pooledNone.sort()
floor.sort()
let f50 = percentile(floor, 0.5), f99 = percentile(floor, 0.99)
print("launch latency, /bin/true in a fresh limited cgroup (\(launcher.driver.mode.rawValue) driver), \(runs) runs each, interleaved in blocks of \(block)")
print(String(format: "  floor (plain C, no shim):           p50 %.3f ms  p99 %.3f ms", f50, f99))
for (name, samples) in [("berth (Launcher + shim)", berth), ("berth sandboxed (+ ns, mounts, uid, seccomp; network none)", sandboxed),
                        ("berth sandboxed, network host (no network namespace)", hostNetwork),
                        ("berth sandboxed, network none from the daemon's pool of ready namespaces", pooledNone)] {
    let p50 = percentile(samples, 0.5), p99 = percentile(samples, 0.99)
    print(String(format: "  %@: p50 %.3f ms  p99 %.3f ms  ratio to floor p50 %.2f×  p99 %.2f×", name, p50, p99, p50 / f50, p99 / f99))
}
print("  target: berth p50 ≤ 2.00× the floor (the floor does the cgroup work only; the sandbox row is for scale)")
print(String(format: "  network none adds to the whole run (start to ended), over network host: %.3f ms at p50 made at launch (berth run), %.3f ms from the pool (berth serve)",
             percentile(sandboxed, 0.5) - percentile(hostNetwork, 0.5), percentile(pooledNone, 0.5) - percentile(hostNetwork, 0.5)))
print("start to running (the job exec'd), sandboxed, \(startHost.count) runs each, interleaved")
print(String(format: "  network host p50 %.3f ms; none made at launch p50 %.3f ms (adds %.3f); none from the pool p50 %.3f ms (adds %.3f). Target: none adds ≤ 0.5 ms at p50",
             percentile(startHost, 0.5), percentile(startNone, 0.5), percentile(startNone, 0.5) - percentile(startHost, 0.5),
             percentile(startPooled, 0.5), percentile(startPooled, 0.5) - percentile(startHost, 0.5)))
print(String(format: "  network shaped (veth pair, addresses, route, tbf both ways): made at launch p50 %.3f ms (adds %.3f); in a namespace from the pool p50 %.3f ms (adds %.3f). Target ≤ 3 ms at p50",
             percentile(startShaped, 0.5), percentile(startShaped, 0.5) - percentile(startHost, 0.5),
             percentile(startShapedPooled, 0.5), percentile(startShapedPooled, 0.5) - percentile(startHost, 0.5)))
