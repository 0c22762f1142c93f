import Foundation
import Testing

/// Everything that creates cgroups runs in this one serialized suite: the checks measure
/// rates and share the host's cgroup tree.
@Suite(.serialized, .enabled(if: Host.rootTests, "needs root: creates cgroups on this host"))
struct IsolationTests {
    static let checkNames = ["oom-kill", "cpu-quota", "pids-fork-bomb", "io-write-limit",
                             "missing-binary", "exit-codes", "survives-caller-kill",
                             "seccomp-matrix", "sandbox-inside", "tenant-uid", "symlink-refusal", "fork-fallback",
                             "unknown-seccomp-profile",
                             "concurrent-launches", "deep-tree-cleanup", "stuck-timeout", "seccomp-cache-integrity",
                             "mask-through-symlink", "device-allow-list", "default-limits", "init-privileges",
                             "stdio-relay", "shim-config", "tenant-ids", "checkpoint-quota", "granted-capabilities",
                             "adopt", "log-levels", "log-rotation", "status-ids", "private-workdir", "tenant-quota-limits",
                             "network-none", "network-between-runs", "network-pool", "network-shaped", "network-filtered"]

    @Test func theChecksListIsComplete() throws {
        let listed = try Command.run([Host.binDir + "/berth-checks", "--list"]).stdout.split(separator: "\n").map(String.init)
        #expect(listed == Self.checkNames)
    }

    /// The same checks the cgroup v2 VM runs, here with the host's (hybrid) driver.
    @Test(arguments: checkNames)
    func hostCheck(_ name: String) throws {
        let scratch = try Host.scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let r = try Command.run([Host.binDir + "/berth-checks", "--scratch", scratch, name])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("PASS \(name):"), "\(r.stdout)")
        #expect(r.stdout.contains("1 passed, 0 failed"))
        #expect(Host.leftoverCgroups().isEmpty, "left behind: \(Host.leftoverCgroups())")
    }

    /// The same checks inside a micro-VM with a pure cgroup v2 kernel (qemu/TCG).
    @Test func cgroupV2VirtualMachine() throws {
        let r = try Command.run(["/bin/bash", Host.packageRoot + "/cgroups/vm/run.sh"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr.suffix(2000))")
        #expect(r.stdout.contains("PASS expect-refusal:"), "Berth must refuse a v2 cgroup shared with another process")
        #expect(r.stdout.contains("driver: v2"))
        for name in Self.checkNames { #expect(r.stdout.contains("PASS \(name):"), "\(name) in the VM:\n\(r.stdout)") }
        #expect(r.stdout.contains("vm: all checks passed"))
    }

    // MARK: berth run, as a user drives it

    var berth: String { Host.binDir + "/berth" }

    @Test func outputAndExitCodePassThrough() throws {
        let r = try Command.run([berth, "run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(r.status == 3)
        #expect(r.stdout == "out\n", "the job's stdout carries nothing of Berth's")
        #expect(r.stderr.contains("err\n"))
        #expect(r.stderr.contains("berth: exited with code 3 · cpu "))
        #expect(r.stderr.contains("peak memory") && r.stderr.contains("wrote") && r.stderr.contains("wall"))
    }

    @Test func jsonSummaryGoesToTheSummaryFile() throws {
        let scratch = try Host.scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/summary.json"
        let r = try Command.run([berth, "run", "--json", "--summary-file", file, "--memory", "64Mi", "--", "sh", "-c", "echo hi"])
        #expect(r.status == 0 && r.stdout == "hi\n" && r.stderr.isEmpty)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any]
        #expect(object?["exit_code"] as? Int == 0)
        #expect(object?["reason"] as? String == "exited")
        #expect((object?["applied"] as? [String: Any])?["memoryMaxBytes"] as? Int == 64 << 20)
        #expect(object?["cgroup_removed"] as? Bool == true)
    }

    @Test func oomKillIs137() throws {
        let staged = try Host.stagedChecks()
        defer { try? FileManager.default.removeItem(atPath: staged.dir) }
        let r = try Command.run([berth, "run", "--memory", "32Mi", "--", staged.checks, "workload", "alloc", "100"])
        #expect(r.status == 137)
        #expect(r.stderr.contains("OOM killed (job's memory limit)"))
    }

    @Test func timeoutIs124() throws {
        let r = try Command.run([berth, "run", "--timeout", "500ms", "--grace", "200ms", "--", "sleep", "30"])
        #expect(r.status == 124)
        #expect(r.stderr.contains("timed out"))
    }

    @Test func missingAndUnexecutableCommands() throws {
        let missing = try Command.run([berth, "run", "--", "/usr/bin/nope"])
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("berth: no such file: /usr/bin/nope"))
        let notFound = try Command.run([berth, "run", "--", "no-such-command-anywhere"])
        #expect(notFound.status == 127)
        let scratch = try Host.visibleScratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        _ = FileManager.default.createFile(atPath: scratch + "/data", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        let notExecutable = try Command.run([berth, "run", "--", scratch + "/data"])
        #expect(notExecutable.status == 126)
        #expect(notExecutable.stderr.contains("permission denied"))
    }

    @Test(arguments: [
        (["run", "--memory", "400m", "--", "true"], "memory:"),
        (["run", "--cpu=-1", "--", "true"], "cpu: "),
        (["run", "--cpu", "-1", "--", "true"], "--cpu"),
        (["run", "--pids", "0", "--", "true"], "pids:"),
        (["run", "--bogus", "--", "true"], "--bogus"),
        (["run", "true"], "Unexpected argument"),
        (["run", "--"], "command"),
        (["run", "--tenant", "../../x", "--", "true"], "tenant:"),
        (["run", "--timeout", "forever", "--", "true"], "timeout:"),
        (["run", "--io-write", "1Mi", "--io-device", "/dev/null", "--", "true"], "no block device"),
        (["run", "--seccomp", "permissive", "--", "true"], "seccomp: unknown profile"),
        (["run", "--seccomp", "unconfined", "--", "true"], "seccomp: 'unconfined' is not allowed"),
        (["run", "--workdir", "/proc/self/fd/7", "--", "true"], "workdir:"),
        (["run", "--workdir", "/proc/1/root", "--", "true"], "workdir:"),
        (["run", "--workdir", "/usr/../etc", "--", "true"], "workdir:"),
        (["run", "--workdir", "relative", "--", "true"], "workdir:"),
        (["run", "--workdir", "/root", "--", "true"], "hidden from jobs"),
        (["run", "--workdir", "/nonexistent-dir", "--", "true"], "existing directory"),
        (["run", "-e", "BERTH_RUN_ID=x", "--", "true"], "env:"),
    ])
    func badArgumentsAre125WithOneLine(args: [String], mention: String) throws {
        let r = try Command.run([berth] + args)
        #expect(r.status == 125)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line, no stack trace: \(r.stderr)")
        #expect(r.stderr.hasPrefix("berth: ") && r.stderr.contains(mention), "\(r.stderr)")
        #expect(Host.leftoverCgroups().isEmpty, "nothing half-created")
    }

    @Test func aSymlinkedWorkdirIsRefused() throws {
        let scratch = try Host.visibleScratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createSymbolicLink(atPath: scratch + "/etc-link", withDestinationPath: "/etc")
        let r = try Command.run([berth, "run", "--workdir", scratch + "/etc-link", "--", "true"])
        #expect(r.status == 125 && r.stderr.contains("workdir: must not lead through a symlink"), "\(r.stderr)")
    }

    @Test func theJobGetsExactlyTheEnvironmentItIsGiven() throws {
        var env = ProcessInfo.processInfo.environment
        env["BERTH_TEST_SECRET"] = "daemon-only"
        env["FROM_CALLER"] = "copied"
        let r = try Command.run([berth, "run", "-e", "GREETING=hello", "-e", "FROM_CALLER", "--", "env"], environment: env)
        #expect(r.status == 0)
        let vars = Set(r.stdout.split(separator: "\n").map { String($0.split(separator: "=")[0]) })
        let expected: Set<String> = ["PATH", "HOME", "GREETING", "FROM_CALLER", "BERTH_TENANT", "BERTH_JOB_ID", "BERTH_RUN_ID", "BERTH_CHECKPOINT_DIR"]
        #expect(vars == expected.union(vars.intersection(["TERM", "LANG"])), "\(r.stdout)")
        #expect(r.stdout.contains("GREETING=hello\n") && r.stdout.contains("FROM_CALLER=copied\n"))
        #expect(!r.stdout.contains("daemon-only"))
    }

    @Test func eachTenantRunsAsItsOwnUid() throws {
        let a = try Command.run([berth, "run", "--", "id", "-u"])
        let b = try Command.run([berth, "run", "--tenant", "team-b", "--", "id", "-u"])
        let uidA = Int(a.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let uidB = Int(b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(uidA >= 200_000 && uidB >= 200_000 && uidA != uidB, "\(uidA) \(uidB)")
        let groups = try Command.run([berth, "run", "--tenant", "team-b", "--", "id", "-G"])
        #expect(groups.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(uidB), "no supplementary groups")
    }

    @Test func strictModeRefusesWhatTheHostCannotEnforce() throws {
        let warn = try Command.run([berth, "run", "--memory", "64Mi", "--memory-high", "32Mi", "--", "true"])
        let strict = try Command.run([berth, "run", "--strict", "--memory", "64Mi", "--memory-high", "32Mi", "--", "true"])
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified") {
            #expect(warn.status == 0 && warn.stderr.contains("berth: warning: memory-high:"))
            #expect(strict.status == 125 && strict.stderr.contains("strict mode: memory-high:"))
        } else {
            #expect(warn.status == 0 && strict.status == 0)
        }
    }

    @Test func sigintIsForwardedAndTheRunIsStopped() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: berth)
        p.arguments = ["run", "--grace", "1s", "--", "sleep", "30"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(500_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(Host.leftoverCgroups().isEmpty)
    }

    @Test func theShimOutlivesAKilledBerthRun() throws {
        let runtime = try Host.scratch()
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: berth)
        p.arguments = ["run", "--runtime-dir", runtime, "--", "sh", "-c", "sleep 1; exit 5"]
        try p.run()
        usleep(400_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        var status: [String: Any]?
        for _ in 0..<300 {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: runtime + "/runs")) ?? []
            if let f = files.first(where: { $0.hasSuffix(".json") }),
               let data = FileManager.default.contents(atPath: runtime + "/runs/" + f),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["state"] as? String == "ended" {
                status = object
                break
            }
            usleep(20_000)
        }
        #expect(status?["how"] as? String == "exited")
        #expect(status?["code"] as? Int == 5, "the job's real exit status, recorded by the shim")
        #expect(status?["cgroup_removed"] as? Bool == true)
        // berth run was killed before it could tidy the idle root: do it as it would have.
        _ = try? Command.run([berth, "run", "--", "true"])
        #expect(Host.leftoverCgroups().isEmpty)
    }

    @Test func doctorDescribesThisHost() throws {
        let r = try Command.run([berth, "doctor"])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("cgroup mode:"))
        #expect(r.stdout.contains("PSI:"))
        #expect(r.stdout.contains("seccomp:"))
        #expect(r.stdout.contains("delegation:"))
        #expect(r.stdout.contains("capabilities:") && r.stdout.contains("cgroup joins:"), "\(r.stdout)")
    }

    // MARK: hardening, as a user meets it

    @Test func theJobDoesNotHoldTheCallersFilesUnlessAskedTo() throws {
        // Command.run gives berth pipes for stdout and stderr: with -t the job gets those very
        // pipes; by default its own, relayed.
        let relayed = try Command.run([berth, "run", "--", "sh", "-c", "exec 4>&1; readlink /proc/self/fd/4; echo in | cat"])
        let inherited = try Command.run([berth, "run", "-t", "--", "sh", "-c", "exec 4>&1; readlink /proc/self/fd/4"])
        let mine = try Command.run(["/bin/sh", "-c", "exec 4>&1; readlink /proc/self/fd/4"])
        #expect(relayed.status == 0 && relayed.stdout.hasPrefix("pipe:") && relayed.stdout.hasSuffix("in\n"), "\(relayed.stdout)")
        #expect(inherited.status == 0 && inherited.stdout.hasPrefix("pipe:"))
        #expect(relayed.stdout.split(separator: "\n").first != mine.stdout.split(separator: "\n").first)
        #expect(inherited.stdout != relayed.stdout.split(separator: "\n").first.map { $0 + "\n" })
    }

    @Test func statusFilesAreKeptByTheRetentionPolicy() throws {
        let runtime = try Host.scratch()
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        for _ in 0..<5 { try Command.run([berth, "run", "--runtime-dir", runtime, "--status-keep-last", "2", "--", "true"]) }
        let files = try FileManager.default.contentsOfDirectory(atPath: runtime + "/runs").filter { $0.hasSuffix(".json") }
        #expect(files.count == 2, "\(files)")
        let bad = try Command.run([berth, "run", "--status-keep-last", "-1", "--", "true"])
        #expect(bad.status == 125 && bad.stderr.contains("status-keep-last"))
    }

    @Test func grantedCapabilitiesShowInTheSummaryAndDangerousOnesAreRefused() throws {
        let ok = try Command.run([berth, "run", "--cap-add", "net_bind_service", "--", "true"])
        #expect(ok.status == 0 && ok.stderr.contains("capabilities cap_net_bind_service"), "\(ok.stderr)")
        let refused = try Command.run([berth, "run", "--cap-add", "SYS_ADMIN", "--", "true"])
        #expect(refused.status == 125 && refused.stderr.contains("cap: is never granted"), "\(refused.stderr)")
    }

    @Test func theSummaryFileIsWrittenInPlaceAndCheckedFirst() throws {
        // Written through, never replaced by rename: a device or a link stays what it was.
        let scratch = try Host.scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        #expect(mknod(scratch + "/null", S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        let r = try Command.run([berth, "run", "--summary-file", scratch + "/null", "--", "true"])
        var st = stat()
        #expect(r.status == 0 && stat(scratch + "/null", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR, "the device was replaced")
        // An unwritable summary is found out before the job runs.
        let bad = try Command.run([berth, "run", "--summary-file", scratch + "/missing/x", "--", "sh", "-c", "echo ran"])
        #expect(bad.status == 125 && bad.stdout.isEmpty && bad.stderr.contains("summary-file:"), "\(bad.stdout) \(bad.stderr)")
    }

    @Test(arguments: [
        (["run", "--cgroup-root", "/a/../..", "--", "true"], "cgroup-root:"),
        (["run", "--runtime-dir", "/", "--", "true"], "runtime-dir:"),
        (["run", "--runtime-dir", "relative", "--", "true"], "runtime-dir:"),
        (["run", "--checkpoint-root", "/etc", "--", "true"], "checkpoint-root:"),
        (["run", "--state-dir", "/usr/lib/berth", "--", "true"], "state-dir:"),
        (["run", "--runtime-dir", "/var/tmp/berth-same", "--state-dir", "/var/tmp/berth-same", "--", "true"], "state-dir:"),
        (["run", "--pids", "1", "--", "true"], "pids:"),
        (["run", "--status-keep-last", "+5", "--", "true"], "status-keep-last:"),
    ])
    func hostileOperatorSettingsAreRefusedBeforeAnythingIsMade(args: [String], mention: String) throws {
        let r = try Command.run([berth] + args)
        #expect(r.status == 125 && r.stderr.hasPrefix("berth: \(mention)"), "\(r.stderr)")
        for made in ["/runs", "/roots", "/checkpoints", "/relative", "/var/tmp/berth-same"] {
            #expect(!FileManager.default.fileExists(atPath: made), "\(made) was made")
        }
        #expect(Host.leftoverCgroups().isEmpty && !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/tenants"))
    }

    @Test func aKilledShimTakesItsRunWithIt() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: berth)
        p.arguments = ["run", "--timeout", "30s", "--", "sleep", "27"]
        p.standardError = Pipe()
        try p.run()
        usleep(600_000)
        // The shim's argv names only its run: it is found as the parent of the job's init.
        try Command.run(["/bin/sh", "-c", "job=$(pgrep -f '^sleep 27'); init=$(ps -o ppid= -p $job); kill -9 $(ps -o ppid= -p $init)"])
        p.waitUntilExit()
        #expect(p.terminationStatus == 125)
        let left = try Command.run(["/usr/bin/pgrep", "-f", "^sleep 27"])
        #expect(left.stdout.isEmpty, "the job outlived its shim: \(left.stdout)")
        #expect(Host.leftoverCgroups().isEmpty)
    }

    @Test func theBenchmarkHasAHelpAndRefusesGarbage() throws {
        let help = try Command.run([Host.binDir + "/berth-bench", "--help"])
        #expect(help.status == 0 && help.stdout.hasPrefix("usage: berth-bench"))
        let bad = try Command.run([Host.binDir + "/berth-bench", "lots"])
        #expect(bad.status == 2 && bad.stderr.contains("RUNS"))
    }
}
