// The service benchmark ([3/7]). Each figure beside a floor measured in the same run:
//   1. submissions accepted per second through the API (durable writes, 16 concurrent clients)
//      beside SQLite's raw single-row durable commit rate on the same disk;
//   2. submit-to-running latency of a trivial sandboxed job through the daemon beside the
//      Launcher's own start-to-running for the same job, in process;
//   3. wall time for N trivial jobs from the first submit until all have finished, beside an
//      in-process Launcher loop running the same N sandboxed runs with the same parallelism, and
//      the plain-C launch floor of [1/7] for the same N.
//
//   berth-service-bench [--submissions N] [--latency N] [--jobs N] [--berth PATH] [--daemon-set KEY=VALUE]   (0 skips a part)
// Needs root. Runs its own `berth serve` with a state directory under /var/lib.
#if canImport(Glibc)
import Glibc
#endif
import BerthClient
import BerthCore
import BerthIsolation
import Foundation
import GRDB
import Synchronization

func nowNanos(_ clock: clockid_t = CLOCK_MONOTONIC) -> Int64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 { options[args[0]] = args[1]; args.removeFirst(2) }
let submissions = Int(options["--submissions"] ?? "4000") ?? 4000
let latencyRuns = Int(options["--latency"] ?? "100") ?? 100
let jobCount = Int(options["--jobs"] ?? "500") ?? 500
let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
let berthPath = options["--berth"] ?? exe + "/berth"
/// One more daemon setting, `KEY=VALUE` (`network-namespace-pool=0`, say).
let extraSetting = options["--daemon-set"]
let width = 16

// MARK: - The daemon under test

let stateDir = "/var/lib/berth-bench-\(getpid())"
func startDaemon() throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: berthPath)
    p.arguments = ["serve", "--state-dir", stateDir, "--rate-limit", "0", "--cgroup-root", "/berth-svc-bench", "--tenant-grace", "1ms",
                   "--set", "launch-width=\(width)"] + (extraSetting.map { ["--set", $0] } ?? [])
    p.currentDirectoryURL = URL(fileURLWithPath: "/")
    p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    p.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try p.run()
    for _ in 0..<200 where !FileManager.default.fileExists(atPath: stateDir + "/operator.token") { usleep(50_000) }
    usleep(200_000)
    return p
}

let daemon = try startDaemon()
defer {
    daemon.terminate()
    daemon.waitUntilExit()
    try? FileManager.default.removeItem(atPath: stateDir)
}
let operatorToken = try String(contentsOfFile: stateDir + "/operator.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
let op = APIClient(endpoint: .socket(stateDir + "/berth.sock"), token: operatorToken)

func tenantClient(_ name: String, quota: QuotaRequest? = nil) async throws -> APIClient {
    let t = try await op.addTenant(name: name)
    if let quota { _ = try await op.setQuota(tenant: name, quota) }
    return APIClient(endpoint: .socket(stateDir + "/berth.sock"), token: t.token)
}

func spec(_ name: String, _ command: String) -> [UInt8] {
    Array("name: \(name)\ncommand: [/bin/sh, -c, '\(command)']\nresources: {cpu: 0.1, memory: 32Mi}\n".utf8)
}

func waitAllFinal(_ client: APIClient, count: Int) async throws {
    while true {
        let jobs = try await client.jobs()
        if jobs.count >= count && jobs.allSatisfy({ $0.phase.isFinal }) { return }
        // Each look lists every job: often enough to end within a few % of the wall time,
        // rarely enough not to load the daemon it measures.
        try await Task.sleep(for: .milliseconds(100))
    }
}

// MARK: 1. Submissions per second vs SQLite's raw durable commit rate

func rawCommitRate(seconds: Double) throws -> Double {
    let path = stateDir + "/raw.db"
    let pool = try DatabasePool(path: path)
    // After the pool is open: GRDB sets NORMAL when it turns WAL on.
    try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    try pool.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)") }
    let body = String(repeating: "x", count: 600)
    let t0 = nowNanos()
    var n = 0
    while Double(nowNanos() - t0) / 1e9 < seconds {
        try pool.write { db in try db.execute(sql: "INSERT INTO t (body) VALUES (?)", arguments: [body]) }
        n += 1
    }
    let rate = Double(n) / (Double(nowNanos() - t0) / 1e9)
    try? pool.close()
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    return rate
}

let raw1 = try rawCommitRate(seconds: 3)
// Jobs are admitted one at a time (quota: 1 job, held by a sleeper), so the figure is the
// API and the store's, not the launcher's.
var blockQuota = QuotaRequest()
blockQuota.jobs = "1"
let submitter = try await tenantClient("bench-submit", quota: blockQuota)
_ = try await submitter.submit(spec: Array("name: holder\nkind: service\ncommand: [/bin/sleep, '3600']\n".utf8))
let perClient = submissions / width
let t0 = nowNanos()
try await withThrowingTaskGroup(of: Void.self) { group in
    for c in 0..<width {
        group.addTask {
            for i in 0..<perClient {
                _ = try await submitter.submit(spec: spec("s-\(c)-\(i)", "true"), idempotencyKey: "k-\(c)-\(i)")
            }
        }
    }
    try await group.waitForAll()
}
let apiRate = Double(perClient * width) / (Double(nowNanos() - t0) / 1e9)
let raw2 = try rawCommitRate(seconds: 3)
let raw = (raw1 + raw2) / 2
print("1. submissions accepted through the API, \(width) concurrent clients, \(perClient * width) jobs (durable: synchronous=FULL)")
print(String(format: "   SQLite raw single-row durable commits: %.0f/s (before %.0f, after %.0f)", raw, raw1, raw2))
print(String(format: "   berth API submissions:                 %.0f/s  ratio %.2f× (target ≥ 0.35×)", apiRate, apiRate / raw))
// Cleared before the next part measures anything: the tenant removed, its jobs gone.
_ = try await op.removeTenant(name: "bench-submit")
while try await op.tenants().contains(where: { $0.name == "bench-submit" }) { try await Task.sleep(for: .milliseconds(50)) }

// MARK: 2. Submit-to-running latency vs the Launcher's own, in process (--latency 0 skips it)

let layoutRoot = "/var/lib/berth-bench-floor-\(getpid())"
var layout = HostLayout()
layout.runtimeDirectory = layoutRoot + "/run"
layout.stateDirectory = layoutRoot + "/state"
layout.checkpointRoot = layoutRoot + "/checkpoints"
let launcher = try Launcher(driver: try Launcher.hostDriver(cgroupRoot: "/berth-svc-floor"), layout: layout)
defer { try? FileManager.default.removeItem(atPath: layoutRoot) }

/// `started_ns` of a run's status file, once the shim has written it.
func startedNanos(_ path: String) -> Int64? {
    guard let s = ShimStatus.read(path) else { return nil }
    return s.startedNanos
}

func launcherToRunning() throws -> Double {
    var s = RunSpec(argv: ["/bin/sleep", "0.05"], environment: ["PATH=/usr/bin:/bin"], workingDirectory: "/tmp")
    s.resources = try Resources(parsing: { var r = ResourceRequest(); r.cpu = "0.1"; r.memory = "32Mi"; return r }())
    s.makeWorkingDirectory = true
    let t = nowNanos(CLOCK_REALTIME)
    let run = try launcher.start(s)
    var started: Int64?
    while started == nil { started = startedNanos(run.statusPath); if started == nil { usleep(200) } }
    _ = run.wait()
    try? launcher.removeCheckpoints(s)
    unlink(run.statusPath)
    return Double((started ?? t) - t) / 1e6
}

let latencyClient = try await tenantClient("bench-latency")
func daemonToRunning(_ i: Int) async throws -> Double {
    let t = nowNanos(CLOCK_REALTIME)
    let job = try await latencyClient.submit(spec: Array("name: l\(i)\ncommand: [/bin/sleep, '0.05']\nresources: {cpu: 0.1, memory: 32Mi}\n".utf8)).job
    // A job that fits starts at its submission, whose answer names the run: its status file is
    // then watched as the in-process side watches its own (asking the API every millisecond
    // would load the daemon being measured). Otherwise the API is asked until a run is named.
    var run = job.currentRun
    while run == nil {
        try await Task.sleep(for: .milliseconds(5))
        run = try await latencyClient.status(job: job.id).job.currentRun
    }
    var started: Int64?
    let giveUp = nowNanos() + 10_000_000_000
    while started == nil && nowNanos() < giveUp {
        started = startedNanos("\(stateDir)/run/runs/\(run ?? "").json")
        if started == nil { usleep(200) }
    }
    if started == nil { print("   (run \(run ?? "-") of job \(job.id) never wrote its status)") }
    while try await latencyClient.status(job: job.id).job.phase.isFinal == false { try await Task.sleep(for: .milliseconds(5)) }
    _ = try await latencyClient.remove(job: job.id)
    return Double((started ?? t) - t) / 1e6
}

if latencyRuns > 0 {
    var viaLauncher: [Double] = [], viaDaemon: [Double] = []
    for i in 0..<(latencyRuns + 5) {
        let a = try launcherToRunning()
        let b = try await daemonToRunning(i)
        if i >= 5 { viaLauncher.append(a); viaDaemon.append(b) }   // the first few warm up
    }
    let l50 = percentile(viaLauncher, 0.5), d50 = percentile(viaDaemon, 0.5)
    print("2. submit-to-running, a trivial sandboxed job, \(latencyRuns) runs each, interleaved")
    print(String(format: "   Launcher.start to running, in process: p50 %.2f ms  p99 %.2f ms", l50, percentile(viaLauncher, 0.99)))
    print(String(format: "   berth submit to running (API, store, admission, reconciler): p50 %.2f ms  p99 %.2f ms", d50, percentile(viaDaemon, 0.99)))
    print(String(format: "   the daemon adds %.2f ms at p50 (target ≤ 2 ms)", d50 - l50))
}

// MARK: 3. N trivial jobs, first submit to all finished

func launcherLoop(_ n: Int) throws -> Double {
    let t = nowNanos()
    let next = Mutex(0)
    let failures = Mutex(0)
    DispatchQueue.concurrentPerform(iterations: width) { _ in
        while true {
            let mine: Int = next.withLock { v in v += 1; return v }
            if mine > n { return }
            do {
                var s = RunSpec(argv: ["/bin/true"], environment: ["PATH=/usr/bin:/bin"], workingDirectory: "/tmp")
                s.resources = try Resources(parsing: { var r = ResourceRequest(); r.cpu = "0.1"; r.memory = "32Mi"; return r }())
                s.makeWorkingDirectory = true
                let run = try launcher.start(s)
                let result = run.wait()
                if result.ending != .exited(code: 0) {
                    failures.withLock { $0 += 1 }
                    print("   (launcher loop: a run ended \(result.ending.summary))")
                }
                try? launcher.removeCheckpoints(s)
                unlink(run.statusPath)
            } catch {
                print("   (launcher loop: \(error))")
                failures.withLock { $0 += 1 }
            }
        }
    }
    if failures.withLock({ $0 }) > 0 { print("   (launcher loop: \(failures.withLock { $0 }) failures)") }
    return Double(nowNanos() - t) / 1e9
}

func daemonBatch(_ n: Int, round: Int) async throws -> Double {
    let client = try await tenantClient("bench-wall-\(round)")
    let t = nowNanos()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for c in 0..<width {
            group.addTask {
                var i = c
                while i < n {
                    _ = try await client.submit(spec: spec("w\(i)", "true"), idempotencyKey: "w\(i)")
                    i += width
                }
            }
        }
        try await group.waitForAll()
    }
    try await waitAllFinal(client, count: n)
    let wall = Double(nowNanos() - t) / 1e9
    let failed = try await client.jobs().filter { $0.phase != .succeeded }.count
    if failed > 0 { print("   (daemon: \(failed) jobs did not succeed)") }
    await client.shutdown()
    return wall
}

if jobCount > 0 {
    // In the order daemon, loop, loop, daemon: what one round leaves behind (on ext4 without a
    // journal, every new inode skips those freed in the last 30 to 100 s) weighs on both sides.
    let d1 = try await daemonBatch(jobCount, round: 1)
    let l1 = try launcherLoop(jobCount)
    let l2 = try launcherLoop(jobCount)
    let d2 = try await daemonBatch(jobCount, round: 2)
    let daemonWall = (d1 + d2) / 2, loopWall = (l1 + l2) / 2
    let floorOut = Pipe()
    let floorProc = Process()
    floorProc.executableURL = URL(fileURLWithPath: exe + "/berth-bench")
    floorProc.arguments = ["--floor-total", String(jobCount)]
    floorProc.standardOutput = floorOut
    try floorProc.run()
    floorProc.waitUntilExit()
    let floorText = String(decoding: floorOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    print("3. \(jobCount) trivial jobs (/bin/true, sandboxed), first submit to all finished, \(width) at once; mean of 2 rounds each, ABBA")
    print(String(format: "   in-process Launcher loop, %d wide: %.2f s (rounds %.2f, %.2f)", width, loopWall, l1, l2))
    print(String(format: "   berth daemon (API, store, reconciler): %.2f s (rounds %.2f, %.2f)  ratio %.2f× (target ≤ 1.25×)",
                 daemonWall, d1, d2, daemonWall / loopWall))
    print("   C floor of [1/7], the same \(jobCount) launches one after another: \(floorText)")
    print("   for scale: Slurm on this machine took 247 s for 500 (about 9 s oversubscribed)")
}
launcher.removeIdleTree(.default)
// Nothing left behind: every tenant removed and released (its cgroup level, logs, checkpoints).
for tenant in try await op.tenants() { _ = try? await op.removeTenant(name: tenant.name) }
for _ in 0..<100 where try await !op.tenants().isEmpty { try await Task.sleep(for: .milliseconds(100)) }
for client in [submitter, latencyClient, op] { await client.shutdown() }
