// berth-checks: the isolation checks, run on the host (hybrid driver) by the integration
// tests and, statically linked, inside the cgroup v2 micro-VM. Swift's test libraries have
// no static build, so the checks live here and print "N passed, N failed".
//
//   berth-checks [--cgroup-root PATH] [--scratch DIR] [CHECK…]   run checks (default: all)
//   berth-checks --list                                         list them
//   berth-checks expect-refusal                                 assert Berth refuses a shared v2 cgroup
//   berth-checks workload KIND ARGS…                            the jobs the checks run
//
// Jobs see the host read-only, with /tmp, /var/tmp, home directories and Berth's own
// directories hidden, so the binaries they run (this one, berth-probe) are staged in
// /opt/berth-checks-<pid>, and everything a job writes goes to its checkpoint directory.
#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import Foundation

struct CheckFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(message()) }
}

let ownPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

struct Context: Sendable {
    let launcher: Launcher
    /// A directory on a real disk for Berth's own files (runtime, state, checkpoints).
    let scratch: String
    let cgroupRoot: String?
    /// Where the binaries jobs run are staged: visible, read-only, inside every sandbox.
    let stage: String

    var selfPath: String { stage + "/berth-checks" }
    var probePath: String { stage + "/berth-probe" }

    func spec(_ argv: [String], tenant: TenantName = .default) -> RunSpec {
        var spec = RunSpec(argv: argv, environment: ["PATH=/usr/local/bin:/usr/bin:/bin"], workingDirectory: "/")
        spec.tenant = tenant
        return spec
    }

    /// Runs to the end, checks the cgroup is gone, and removes the job's checkpoint subtree
    /// unless `keep` (then the caller inspects and removes it).
    func run(_ spec: RunSpec, keep: Bool = false, launcher: Launcher? = nil) throws -> RunResult {
        let launcher = launcher ?? self.launcher
        let result = try launcher.start(spec).wait()
        if !keep { try launcher.removeCheckpoints(spec) }
        try require(result.cgroupRemoved && !result.stuck, "the run's cgroup was not removed (stuck: \(result.stuck))")
        for dir in result.cgroup.directories {
            try require(access(dir, F_OK) != 0, "\(dir) still exists after the run")
        }
        return result
    }

    /// Runs `argv` with its stdout going to a file in its checkpoint subtree; returns that output.
    func output(of argv: [String], launcher: Launcher? = nil, configure: (inout RunSpec) -> Void = { _ in }) throws -> (RunResult, String) {
        let quoted = argv.map { "'\($0)'" }.joined(separator: " ")
        var spec = spec(["/bin/sh", "-c", "\(quoted) > \"$BERTH_CHECKPOINT_DIR/out\""])
        configure(&spec)
        let launcher = launcher ?? self.launcher
        let result = try run(spec, keep: true, launcher: launcher)
        let file = (try launcher.checkpointDirectory(spec)) + "/out"
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        try launcher.removeCheckpoints(spec)
        return (result, text)
    }

    func workload(_ args: String...) -> [String] { [selfPath, "workload"] + args }
}

typealias Check = (name: String, run: @Sendable (Context) throws -> String)

let isolationChecks: [Check] = [
    ("oom-kill", { ctx in
        var spec = ctx.spec(ctx.workload("alloc", "100"))
        spec.resources.memoryMax = 32 << 20
        let r = try ctx.run(spec)
        try require(r.ending == .oomKilled(byTenantLimit: false), "100 MB under 32Mi ended as \(r.ending.summary)")
        try require(r.ending.exitCode == 137, "exit code \(r.ending.exitCode), want 137")
        return "100 MB under --memory 32Mi: \(r.ending.summary), peak \(r.stats.memory.peakBytes ?? -1) B"
    }),
    ("cpu-quota", { ctx in
        var spec = ctx.spec(ctx.workload("spin", "3.5"))
        spec.resources.cpuMicrocores = 200_000
        spec.timeoutMillis = 3_500
        spec.graceMillis = 500
        let r = try ctx.run(spec)
        let usage = r.stats.cpu.usageMicros ?? .max
        let bound = Int(0.2 * Double(r.wallMillis) * 1000 * 1.1) + 20_000
        try require(r.wallMillis >= 3_000, "ran only \(r.wallMillis) ms")
        try require(usage <= bound, "used \(usage) µs of cpu in \(r.wallMillis) ms; bound \(bound) µs")
        let periods = r.stats.cpu.periods ?? 0, throttled = r.stats.cpu.throttledPeriods ?? 0
        try require(periods > 0 && throttled * 2 > periods, "throttled in \(throttled) of \(periods) periods")
        return "busy loop under --cpu 0.2: \(usage) µs cpu in \(r.wallMillis) ms (bound \(bound)), throttled \(throttled)/\(periods) periods"
    }),
    ("pids-fork-bomb", { ctx in
        var spec = ctx.spec(ctx.workload("forkbomb"))
        spec.resources.pids = 32
        spec.timeoutMillis = 3_000
        spec.graceMillis = 200
        let started = try ctx.launcher.start(spec)
        var highest = 0
        let pidsFile = started.cgroup.statFiles.first { $0.key == "pids.current" }?.path ?? ""
        while ShimStatus.read(started.statusPath)?.state != .ended {
            if let text = try? String(contentsOfFile: pidsFile, encoding: .utf8), let n = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                highest = max(highest, n)
            }
            usleep(20_000)
        }
        let r = started.wait()
        try require(r.ending == .timedOut, "ended as \(r.ending.summary)")
        try require(highest <= 32 && highest >= 16, "saw \(highest) tasks under --pids 32")
        try require((r.stats.pids.maxEvents ?? 0) > 0, "pids.events shows no refused fork")
        try require(r.cgroupRemoved && !r.stuck, "cgroup not removed after the fork bomb")
        for dir in r.cgroup.directories { try require(access(dir, F_OK) != 0, "\(dir) still exists") }
        return "fork bomb under --pids 32: at most \(highest) tasks, \(r.stats.pids.maxEvents ?? 0) forks refused, all removed"
    }),
    ("io-write-limit", { ctx in
        var spec = ctx.spec(ctx.workload("directwrite", "checkpoint:io-check", String(4 << 20)))
        var io = IOLimits()
        io.devicePath = ctx.launcher.layout.checkpointRoot
        io.writeBytesPerSecond = 1 << 20
        spec.resources.io = io
        let r = try ctx.run(spec)
        try require(r.ending == .exited(code: 0), "ended as \(r.ending.summary)")
        try require(r.wallMillis >= 3_600, "4 MiB O_DIRECT under 1Mi/s took \(r.wallMillis) ms, want ≥ 3600")
        return "4 MiB O_DIRECT write under --io-write 1Mi took \(r.wallMillis) ms, wrote \(r.stats.io.writeBytes ?? -1) B"
    }),
    ("missing-binary", { ctx in
        let r = try ctx.run(ctx.spec(["/usr/bin/nope"]))
        try require(r.ending == .execFailed(errno: Int(ENOENT)) && r.ending.exitCode == 127, "ended as \(r.ending.summary)")
        return "/usr/bin/nope: \(r.ending.summary), exit \(r.ending.exitCode)"
    }),
    ("exit-codes", { ctx in
        let exited = try ctx.run(ctx.spec(ctx.workload("exit", "7")))
        try require(exited.ending == .exited(code: 7) && exited.ending.exitCode == 7, "exit 7 ended as \(exited.ending.summary)")
        let signaled = try ctx.run(ctx.spec(ctx.workload("signal", "15")))
        try require(signaled.ending == .signaled(signal: 15) && signaled.ending.exitCode == 143, "SIGTERM ended as \(signaled.ending.summary)")
        var slow = ctx.spec(ctx.workload("sleep", "30"))
        slow.timeoutMillis = 300
        slow.graceMillis = 200
        let timedOut = try ctx.run(slow)
        try require(timedOut.ending == .timedOut && timedOut.ending.exitCode == 124, "timeout ended as \(timedOut.ending.summary)")
        // A job that ignores SIGTERM is killed when the grace period runs out, not before.
        var stubborn = ctx.spec(ctx.workload("ignore-term", "30"))
        stubborn.timeoutMillis = 300
        stubborn.graceMillis = 1_000
        let killed = try ctx.run(stubborn)
        try require(killed.ending == .timedOut, "a job ignoring SIGTERM ended as \(killed.ending.summary)")
        try require((1_250...2_300).contains(killed.wallMillis), "killed after \(killed.wallMillis) ms; want timeout 300 + grace 1000 ms")
        return "exit 7 → 7, SIGTERM → 143, timeout → 124, SIGTERM ignored → killed after \(killed.wallMillis) ms (300 + 1000 grace)"
    }),
    ("survives-caller-kill", { ctx in
        // The caller (a berth-checks child standing in for `berth run`) is SIGKILLed while the
        // job runs; the shim must still record the job's real exit status and remove the cgroup.
        let runID = RunID()
        var args = [ownPath]
        if let root = ctx.cgroupRoot { args += ["--cgroup-root", root] }
        args += ["--scratch", ctx.scratch, "caller", runID.rawValue, ctx.stage]
        let caller = try Subprocess.spawn(args)
        let statusPath = ctx.launcher.statusPath(runID)
        var waited = 0
        while ShimStatus.read(statusPath)?.state != .running && waited < 5_000 { usleep(10_000); waited += 10 }
        try require(ShimStatus.read(statusPath)?.state == .running, "the job never started")
        kill(caller, SIGKILL)
        var status: Int32 = 0
        waitpid(caller, &status, 0)
        waited = 0
        while ShimStatus.read(statusPath)?.state != .ended && waited < 10_000 { usleep(20_000); waited += 20 }
        guard let s = ShimStatus.read(statusPath), s.state == .ended else { throw CheckFailure("no ended status after the caller was killed") }
        try require(s.how == .exited && s.code == 7, "recorded \(s.how?.name ?? "?") code \(s.code ?? -1), want exited 7")
        try require(s.cgroupRemoved == true, "the shim did not remove the cgroup")
        return "caller SIGKILLed; shim recorded exit 7 and removed the cgroup"
    }),
]

let checks = isolationChecks + sandboxChecks + hardeningChecks + daemonChecks + quotaChecks + networkChecks + shapedChecks

enum Subprocess {
    static func spawn(_ argv: [String]) throws -> pid_t {
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], nil, nil, cArgs, environ)
        guard rc == 0 else { throw CheckFailure("posix_spawn \(argv[0]): errno \(rc)") }
        return pid
    }
}

// MARK: - workloads

func workload(_ args: [String]) -> Never {
    switch args.first {
    case "alloc":
        let megabytes = Int(args[1]) ?? 100
        let sink = open("/dev/null", O_WRONLY)
        for _ in 0..<megabytes {
            guard let p = malloc(1 << 20) else { exit(3) }
            memset(p, 1, 1 << 20)
            // Hand the memory to a syscall, so an optimizer cannot drop the allocation.
            _ = write(sink, p, 1 << 20)
        }
        exit(0)
    case "spin":
        let seconds = Double(args[1]) ?? 3
        var start = timespec(), now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        var x: UInt64 = 0
        repeat {
            for i in 0..<100_000 { x &+= UInt64(i) }
            clock_gettime(CLOCK_MONOTONIC, &now)
        } while Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9 < seconds
        exit(x == 42 ? 1 : 0)
    case "forkbomb":
        while true {
            let pid = fork()
            if pid == 0 { while true { pause() } }
            if pid < 0 { usleep(1_000) }
        }
    case "directwrite":
        var path = args[1]
        if path.hasPrefix("checkpoint:") {
            path = (ProcessInfo.processInfo.environment["BERTH_CHECKPOINT_DIR"] ?? "/nonexistent") + "/" + path.dropFirst(11)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | 0o40000 /* O_DIRECT, not imported */, 0o600)
        guard fd >= 0 else { perror("open"); exit(2) }
        defer { unlink(path) }
        let total = Int(args[2]) ?? (4 << 20)
        let chunk = args.count > 3 ? Int(args[3]) ?? (256 << 10) : 256 << 10
        var aligned: UnsafeMutableRawPointer?
        guard posix_memalign(&aligned, 4096, chunk) == 0, let buffer = aligned else { exit(3) }
        memset(buffer, 7, chunk)
        var written = 0
        while written < total {
            let n = write(fd, buffer, chunk)
            if n <= 0 { perror("write"); unlink(path); exit(2) }
            written += n
        }
        close(fd)
        unlink(path)
        exit(0)
    case "deeptree":
        // A chain of N nested directories, made with relative mkdir + chdir (no fd per level).
        let depth = Int(args[1]) ?? 12_000
        guard let base = ProcessInfo.processInfo.environment["BERTH_CHECKPOINT_DIR"], chdir(base) == 0 else { exit(2) }
        for _ in 0..<depth {
            guard mkdir("d", 0o755) == 0, chdir("d") == 0 else { perror("mkdir"); exit(2) }
        }
        // Something in each of a few other shapes: many files, an unreadable directory.
        guard chdir(base) == 0, mkdir("wide", 0o755) == 0, mkdir("locked", 0o755) == 0, mkdir("locked/inner", 0o755) == 0 else { exit(2) }
        for i in 0..<2_000 { close(open("wide/f\(i)", O_WRONLY | O_CREAT, 0o644)) }
        chmod("locked", 0)
        exit(0)
    case "forkmany":
        // Forks up to N sleeping children and writes how many it got to the checkpoint dir.
        let wanted = Int(args[1]) ?? 1_100
        var got = 0
        for _ in 0..<wanted {
            let pid = fork()
            if pid == 0 { while true { pause() } }
            if pid < 0 { break }
            got += 1
        }
        let out = (ProcessInfo.processInfo.environment["BERTH_CHECKPOINT_DIR"] ?? "/nonexistent") + "/forked"
        _ = FileManager.default.createFile(atPath: out, contents: Data(String(got).utf8))
        exit(0)
    case "flood":
        // Writes N bytes of numbered 64-byte lines to stdout and M to stderr, as fast as it can,
        // after saying on stderr what its stdin is (`stdin PATH read N`).
        var byte: UInt8 = 0
        let got = read(0, &byte, 1)
        let stdinPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/0")) ?? "?"
        let first = Array("stdin \(stdinPath) read \(got)\n".utf8)
        _ = write(2, first, first.count)
        for (fd, prefix, total) in [(Int32(1), UInt8(ascii: "o"), Int(args[1]) ?? (20 << 20)), (2, UInt8(ascii: "e"), args.count > 2 ? Int(args[2]) ?? 0 : 0)] {
            var n = 0
            while n < total / floodLineLength {
                var chunk: [UInt8] = []
                chunk.reserveCapacity(1 << 16)
                while chunk.count < 1 << 16 && n < total / floodLineLength { chunk += floodLine(prefix, n); n += 1 }
                var off = 0
                while off < chunk.count {
                    let w = chunk[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    if w < 0 && errno == EINTR { continue }
                    if w <= 0 { exit(2) }
                    off += w
                }
            }
        }
        exit(0)
    case "exit": exit(Int32(args[1]) ?? 1)
    case "signal":
        signal(Int32(args[1]) ?? SIGTERM, SIG_DFL)
        kill(getpid(), Int32(args[1]) ?? SIGTERM)
        pause()
        exit(1)
    case "sleep":
        sleep(UInt32(args[1]) ?? 1)
        exit(0)
    case "ignore-term":
        signal(SIGTERM, SIG_IGN)
        sleep(UInt32(args[1]) ?? 30)
        exit(0)
    case "sleep-exit":
        usleep(UInt32((Double(args[1]) ?? 1) * 1_000_000))
        exit(Int32(args[2]) ?? 0)
    default:
        print("unknown workload")
        exit(2)
    }
}

// MARK: - main

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "workload" { workload(Array(arguments.dropFirst())) }

var cgroupRoot: String?
var scratch = "/var/tmp"
var names: [String] = []
/// How many launches `concurrent-launches` starts at once (the VM, emulated, uses fewer).
nonisolated(unsafe) var concurrency = 200
while let arg = arguments.first {
    arguments.removeFirst()
    switch arg {
    case "--cgroup-root": cgroupRoot = arguments.removeFirst()
    case "--scratch": scratch = arguments.removeFirst()
    case "--concurrency": concurrency = Int(arguments.removeFirst()) ?? 200
    case "--list": checks.forEach { print($0.name) }; exit(0)
    default: names.append(arg)
    }
}

@MainActor func makeLauncher() throws -> Launcher {
    var layout = HostLayout()
    layout.runtimeDirectory = scratch + "/berth-checks/run"
    layout.stateDirectory = scratch + "/berth-checks/state"
    layout.checkpointRoot = scratch + "/berth-checks/state/checkpoints"
    layout.allowUnconfined = true
    return try Launcher(driver: try Launcher.hostDriver(cgroupRoot: cgroupRoot), layout: layout)
}

if names.first == "expect-refusal" {
    // The caller put us in a non-root v2 cgroup beside another process.
    do {
        try Launcher.hostDriver(cgroupRoot: nil).prepare()
        print("FAIL expect-refusal: Berth prepared a root in a cgroup shared with another process")
        print("0 passed, 1 failed")
        exit(1)
    } catch let e as BerthError where e.code == .notDelegated && e.message.contains("Delegate=yes") && e.message.contains("--cgroup-root") {
        print("PASS expect-refusal: \(e.message)")
        print("1 passed, 0 failed")
        exit(0)
    } catch {
        print("FAIL expect-refusal: wrong error: \(error)")
        print("0 passed, 1 failed")
        exit(1)
    }
}

if names.first == "launch-true" {
    // One of many simultaneous launchers: what `berth run -- /bin/true` does, start to end.
    do {
        let launcher = try makeLauncher()
        let spec = RunSpec(argv: ["/bin/true"], environment: [], workingDirectory: "/")
        let result = try launcher.start(spec).wait()
        try launcher.removeCheckpoints(spec)
        launcher.removeIdleTree(spec.tenant)
        guard result.ending == .exited(code: 0), result.cgroupRemoved else {
            print("launch-true: \(result.ending.summary), cgroup removed: \(result.cgroupRemoved)")
            exit(1)
        }
        exit(0)
    } catch {
        print("launch-true: \(error)")
        exit(1)
    }
}

if names.first == "caller" {
    // Stands in for `berth run`: starts a job that exits 7 after 1 s, and waits to be killed.
    let launcher = try makeLauncher()
    var spec = RunSpec(argv: [names[2] + "/berth-checks", "workload", "sleep-exit", "1", "7"], environment: [], workingDirectory: "/")
    guard let runID = RunID(names[1]) else { print("caller: bad run id"); exit(2) }
    spec.runID = runID
    let started = try launcher.start(spec)
    _ = started.wait()
    exit(0)
}

/// Copies the binaries jobs run to a directory every sandbox shows, plus a setuid-root copy
/// of the probe for the privilege check.
func stageBinaries() throws -> String {
    let stage = "/opt/berth-checks-\(getpid())"
    let fm = FileManager.default
    try fm.createDirectory(atPath: stage, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    let dir = (ownPath as NSString).deletingLastPathComponent
    for (source, name) in [(ownPath, "berth-checks"), (dir + "/berth-probe", "berth-probe"), (dir + "/berth-probe", "berth-probe-suid")] {
        try fm.copyItem(atPath: source, toPath: stage + "/" + name)
    }
    chown(stage + "/berth-probe-suid", 0, 0)
    chmod(stage + "/berth-probe-suid", 0o4755)
    return stage
}

let stage = try stageBinaries()
let context = Context(launcher: try makeLauncher(), scratch: scratch, cgroupRoot: cgroupRoot, stage: stage)
let selected = names.isEmpty ? checks : checks.filter { names.contains($0.name) }
if selected.count != Set(names).count && !names.isEmpty {
    print("unknown check in \(names); known: \(checks.map(\.name).joined(separator: ", "))")
    exit(2)
}
var passed = 0, failed = 0
print("driver: \(context.launcher.driver.mode.rawValue)")
for check in selected {
    do {
        let detail = try check.run(context)
        print("PASS \(check.name): \(detail)")
        passed += 1
    } catch {
        print("FAIL \(check.name): \(error)")
        failed += 1
    }
}
context.launcher.removeIdleTree(.default)
context.launcher.removeIdleTree(otherTenant)
try? FileManager.default.removeItem(atPath: scratch + "/berth-checks")
try? FileManager.default.removeItem(atPath: stage)
print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
