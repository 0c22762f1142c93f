// The regression checks of the hardening issue: each finding of the attack and load review,
// proved on the host and in the cgroup v2 VM, from inside the job where it is about what a
// job can do. Each failed on the code before the fix.
#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import Foundation
import Synchronization

/// Runs `command` through /bin/sh; returns its exit status and what it wrote to stderr.
func shell(_ command: String, scratch: String) throws -> (status: Int32, stderr: String) {
    let errFile = scratch + "/shell-stderr-\(getpid())"
    defer { unlink(errFile) }
    let pid = try Subprocess.spawn(["/bin/sh", "-c", "\(command) 2> '\(errFile)' < /dev/null"])
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    let text = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
    return ((status >> 8) & 0xff, text)
}

/// The subdirectories of `dir` (a cgroup level): runs left behind show up here.
func subdirectories(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: dir + "/" + $0, isDirectory: &isDir) && isDir.boolValue
    }
}

func readFile(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

let hardeningChecks: [Check] = [
    ("concurrent-launches", { ctx in
        // Many `berth run`s at once: each its own process, readying the host, launching, and
        // tidying the idle tree when done, all on the same cgroup tree.
        let sample = try ctx.run(ctx.spec(["/bin/true"]))
        let tenantLevels = sample.cgroup.directories.map { ($0 as NSString).deletingLastPathComponent }
        var args = [ownPath]
        if let root = ctx.cgroupRoot { args += ["--cgroup-root", root] }
        args += ["--scratch", ctx.scratch, "launch-true"]
        let pids = try (0..<concurrency).map { _ in try Subprocess.spawn(args) }
        var failed = 0
        for pid in pids {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            if status != 0 { failed += 1 }
        }
        try require(failed == 0, "\(failed) of \(concurrency) simultaneous launches failed")
        let left = tenantLevels.flatMap { level in subdirectories(level).map { level + "/" + $0 } }
        try require(left.isEmpty, "run cgroups left behind: \(left.prefix(5))")
        let roots = subdirectories(ctx.launcher.layout.rootsDirectory)
        try require(roots.isEmpty, "run root mount points left behind: \(roots.prefix(5))")
        // And as a daemon launches: from threads of one process, the first launches compiling
        // the seccomp program at once (each writes its own temporary file, then renames it).
        unlink(ctx.launcher.seccompCachePath(.default))
        let threads = 16
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            do {
                let r = try ctx.run(ctx.spec(["/bin/true"]))
                if r.ending != .exited(code: 0) { errors.withLock { $0.append(r.ending.summary) } }
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        let failures = errors.withLock { $0 }
        try require(failures.isEmpty, "\(failures.count) of \(threads) launches from one process's threads failed: \(failures.prefix(3))")
        return "\(concurrency) launches at once, each from its own process, and \(threads) from one process's threads with no seccomp cache yet: all exited 0, no cgroup or mount point left"
    }),
    ("deep-tree-cleanup", { ctx in
        // A job leaves a 12,000-deep directory chain, 2,000 files and an unreadable directory
        // in its checkpoint subtree; Berth removes it all with at most 64 fds of its own.
        var spec = ctx.spec(ctx.workload("deeptree", "12000"))
        spec.timeoutMillis = 300_000
        let r = try ctx.run(spec, keep: true)
        try require(r.ending == .exited(code: 0), "the job ended as \(r.ending.summary)")
        let dir = (try ctx.launcher.checkpointDirectory(spec))
        var saved = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &saved)
        var low = saved
        low.rlim_cur = 64
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &low)
        let removal = Result { try ctx.launcher.removeCheckpoints(spec) }
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &saved)
        try removal.get()
        try require(access(dir, F_OK) != 0, "\(dir) is still there")
        // What cannot be removed is an error naming it, never a silent leftover.
        let pinned = try ctx.launcher.checkpoints.createJobDirectory(tenant: try ctx.launcher.tenantID(spec.tenant), job: spec.jobID, uid: 0)
        _ = FileManager.default.createFile(atPath: pinned + "/pinned", contents: Data("x".utf8))
        let chattr = try shell("'\(ctx.probePath)' immutable on '\(pinned)/pinned'", scratch: ctx.scratch)
        try require(chattr.status == 0, "setting the immutable attribute failed: \(chattr.stderr)")
        defer {
            _ = try? shell("'\(ctx.probePath)' immutable off '\(pinned)/pinned'", scratch: ctx.scratch)
            try? ctx.launcher.removeCheckpoints(spec)
        }
        do {
            try ctx.launcher.removeCheckpoints(spec)
            throw CheckFailure("an immutable file was 'removed' without an error")
        } catch let e as BerthError {
            try require(e.message.contains("pinned"), "the error does not name the entry: \(e.message)")
            return "12,000-deep chain, 2,000 files and a mode-000 directory removed with RLIMIT_NOFILE 64; an immutable file is an error naming it: \(e.message)"
        }
    }),
    ("stuck-timeout", { ctx in
        // The job's own --io-write 4Ki holds its 64 KiB O_DIRECT write for 16 s, in
        // uninterruptible sleep: a 1 s timeout must still end the run within the stuck bound.
        var spec = ctx.spec(ctx.workload("directwrite", "checkpoint:stuck", "65536", "65536"))
        var io = IOLimits()
        io.devicePath = ctx.launcher.layout.checkpointRoot
        io.writeBytesPerSecond = 4096
        spec.resources.io = io
        spec.timeoutMillis = 1_000
        spec.graceMillis = 300
        let started = try ctx.launcher.start(spec)
        let r = started.wait()
        try require(r.ending == .timedOut && r.stuck, "ended as \(r.ending.summary), stuck \(r.stuck)")
        try require(r.wallMillis <= 1_000 + 300 + 5_000 + 2_000, "reported after \(r.wallMillis) ms; want ≤ timeout + grace + 5 s stuck bound")
        // Cleaned up when the kernel lets the job die: the status is rewritten then.
        var waited = 0
        while ShimStatus.read(started.statusPath)?.cgroupRemoved != true && waited < 90_000 { usleep(200_000); waited += 200 }
        try require(ShimStatus.read(started.statusPath)?.cgroupRemoved == true, "the stuck run's cgroup was never removed")
        for dir in r.cgroup.directories { try require(access(dir, F_OK) != 0, "\(dir) still exists") }
        try ctx.launcher.removeCheckpoints(spec)
        return "timeout 1 s, grace 0.3 s, job in D state: reported stuck after \(r.wallMillis) ms; cgroup removed \(waited / 1000) s later"
    }),
    ("seccomp-cache-integrity", { ctx in
        _ = try ctx.run(ctx.spec(["/bin/true"]))
        let path = ctx.launcher.seccompCachePath(.default)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        defer { try? good.write(to: URL(fileURLWithPath: path)) }
        // 65,536 "allow" instructions: a length that wraps to 0 in an unsigned short.
        let allow: [UInt8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]
        let huge = Array(repeating: allow, count: 65_536).flatMap { $0 }
        var hugeFile = Array("BERTHBPF".utf8) + [1, 0, 0, 0, 0, 0, 1, 0] + [UInt8](repeating: 0, count: 32) + huge
        hugeFile.replaceSubrange(16..<48, with: sha256(huge))
        var flipped = good
        flipped[flipped.count - 1] ^= 1
        let variants: [(String, Data)] = [("65,536 instructions", Data(hugeFile)), ("one flipped bit", flipped),
                                          ("truncated", good.prefix(good.count - 8)), ("raw, without its header", good.dropFirst(48))]
        for (name, bytes) in variants {
            try bytes.write(to: URL(fileURLWithPath: path))
            let spec = ctx.spec(["/bin/sh", "-c", "touch \"$BERTH_CHECKPOINT_DIR/ran\""])
            let r = try ctx.launcher.start(spec).wait()
            let ran = access((try ctx.launcher.checkpointDirectory(spec)) + "/ran", F_OK) == 0
            try ctx.launcher.removeCheckpoints(spec)
            try require(!ran && r.ending.exitCode == 125, "a cached filter \(name): the job ran (\(r.ending.summary))")
            for dir in r.cgroup.directories { try require(access(dir, F_OK) != 0, "\(dir) left behind") }
        }
        return "a cached filter of 65,536 instructions, with a flipped bit, truncated, or without its header: the launch fails, the job never runs"
    }),
    ("mask-through-symlink", { ctx in
        // Berth's state directory given as a symlink: the job must see neither path.
        let real = ctx.stage + "/state-real", link = ctx.stage + "/state-link"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: real + "/secret", contents: Data("x".utf8))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        defer { try? FileManager.default.removeItem(atPath: link); try? FileManager.default.removeItem(atPath: real) }
        var layout = HostLayout()
        layout.runtimeDirectory = ctx.launcher.layout.runtimeDirectory
        layout.stateDirectory = link
        layout.checkpointRoot = link + "/checkpoints"
        let launcher = try Launcher(driver: ctx.launcher.driver, shimPath: ctx.launcher.shimPath, layout: layout)
        defer { launcher.removeIdleTree(.default) }     // its own registry: its own id for the tenant
        let viaLink = Context(launcher: launcher, scratch: ctx.scratch, cgroupRoot: ctx.cgroupRoot, stage: ctx.stage)
        let (r, text) = try viaLink.output(of: [ctx.probePath, "inside", "--hidden", real + "/secret", "--hidden", link + "/secret"])
        let failures = text.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        try require(text.contains("PASS hidden:\(real)/secret") && text.contains("PASS hidden:\(link)/secret"), "the probe did not check: \(text)")
        try require(failures.isEmpty && r.ending == .exited(code: 0), failures.joined(separator: "; "))
        return "a --state-dir through a symlink is masked at its real path: hidden both ways"
    }),
    ("device-allow-list", { ctx in
        // Root, outside any sandbox, in a run's cgroup: only the allow-listed devices open.
        let disk = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block"))?.sorted().first { !$0.hasPrefix("loop") && !$0.hasPrefix("ram") } ?? "vda"
        let out = ctx.scratch + "/devices-\(getpid())"
        defer { unlink(out) }
        var spec = ctx.spec(["/bin/sh", "-c", "\(ctx.probePath) devices /dev/null /dev/zero /dev/kmsg /dev/\(disk) > \(out)"])
        spec.sandboxed = false
        let r = try ctx.run(spec)
        let text = readFile(out)
        try require(r.ending == .exited(code: 0) && r.cgroup.applied.devices, "ended as \(r.ending.summary); devices applied: \(r.cgroup.applied.devices)")
        for (device, want) in [("/dev/null", "ok"), ("/dev/zero", "ok"), ("/dev/kmsg", "EPERM"), ("/dev/\(disk)", "EPERM")] {
            try require(text.contains("device \(device) \(want)"), "\(device): want \(want); got \(text)")
        }
        return "root in a run's cgroup: /dev/null, /dev/zero open; /dev/kmsg and /dev/\(disk) refused (EPERM) by the BPF device program on \(ctx.launcher.driver.mode == .v2 ? "cgroup v2" : "the hybrid host's unified hierarchy")"
    }),
    ("default-limits", { ctx in
        // A spec silent on pids gets the operator's default (the private /tmp's bound is
        // checked from inside by sandbox-inside).
        var spec = ctx.spec(ctx.workload("forkmany", "1100"))
        spec.timeoutMillis = 120_000
        let r = try ctx.run(spec, keep: true)
        let forked = Int(readFile((try ctx.launcher.checkpointDirectory(spec)) + "/forked")) ?? -1
        try ctx.launcher.removeCheckpoints(spec)
        let limit = ctx.launcher.layout.defaultPids
        try require(r.ending == .exited(code: 0), "ended as \(r.ending.summary)")
        try require(forked >= 0 && forked < limit && forked > limit - 20, "forked \(forked) with the default pids \(limit)")
        try require(r.cgroup.applied.pids == limit, "applied pids \(String(describing: r.cgroup.applied.pids))")
        return "no --pids: the default \(limit) applied; the job forked \(forked) of 1,100"
    }),
    ("init-privileges", { ctx in
        // The run's PID 1 once the job runs: CAP_KILL only, no bounding set, no_new_privs, its own filter.
        var spec = ctx.spec(["/bin/sleep", "2"])
        spec.timeoutMillis = 10_000
        let started = try ctx.launcher.start(spec)
        var waited = 0
        while ShimStatus.read(started.statusPath)?.state != .running && waited < 5_000 { usleep(10_000); waited += 10 }
        let pid = ShimStatus.read(started.statusPath)?.pid ?? 0
        var fields: [String: String] = [:]
        for line in readFile("/proc/\(pid)/status").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        let r = started.wait()
        try ctx.launcher.removeCheckpoints(spec)
        try require(r.ending == .exited(code: 0), "ended as \(r.ending.summary)")
        try require(fields["CapEff"] == "0000000000000020" && fields["CapPrm"] == "0000000000000020", "init's caps: \(fields["CapEff"] ?? "?")")
        try require(fields["CapBnd"] == "0000000000000000" && fields["NoNewPrivs"] == "1" && fields["Seccomp"] == "2",
                    "init: bounding \(fields["CapBnd"] ?? "?"), no_new_privs \(fields["NoNewPrivs"] ?? "?"), seccomp \(fields["Seccomp"] ?? "?")")
        return "berth-init (pid \(pid)): CapEff \(fields["CapEff"] ?? ""), CapBnd 0, NoNewPrivs 1, Seccomp 2"
    }),
    ("stdio-relay", { ctx in
        // The caller's stdout is a file with content: a job reopening /proc/self/fd/1 gets the
        // relay's pipe, so it can neither read nor truncate the file.
        let file = ctx.scratch + "/caller-stdout-\(getpid())"
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        fflush(nil)         // every stream: Glibc's stdout is not concurrency-safe to name
        let saved = dup(1)
        let fd = open(file, O_WRONLY | O_APPEND)
        dup2(fd, 1)
        close(fd)
        let spec = ctx.spec(["/bin/sh", "-c", "exec 4>&1; readlink /proc/self/fd/4 > \"$BERTH_CHECKPOINT_DIR/link\"; true > /proc/self/fd/1 2> /dev/null; echo relayed"])
        let result = Result { try ctx.run(spec, keep: true) }
        dup2(saved, 1)
        close(saved)
        let r = try result.get()
        let link = readFile((try ctx.launcher.checkpointDirectory(spec)) + "/link")
        try ctx.launcher.removeCheckpoints(spec)
        try require(r.ending == .exited(code: 0), "ended as \(r.ending.summary)")
        try require(link.hasPrefix("pipe:"), "the job's stdout is \(link), not a pipe")
        try require(readFile(file) == "precious\nrelayed\n", "the caller's file now holds: \(readFile(file))")
        return "stdout \(link.trimmingCharacters(in: .whitespacesAndNewlines)): the caller's file kept its content, and got the job's output"
    }),
    ("shim-config", { ctx in
        // The shim reads one versioned document of KEY=VALUE records on fd 3, strictly.
        let place = RunPlace(tenant: try ctx.launcher.tenantID(.default), job: JobID(), run: RunID())
        let cgroup = try ctx.launcher.driver.createRun(place, resources: Resources(), ioDevice: nil)
        defer { ctx.launcher.driver.removeRun(cgroup) }
        let status = ctx.scratch + "/shim-config-status.json"
        let docPath = ctx.scratch + "/shim-config-doc"
        defer { unlink(status); unlink(docPath) }
        let ids = "\(place.tenant)/\(place.job)/\(place.run)"
        let valid: [(String, String)] = [("status", status), ("cgroup", cgroup.unifiedPath), ("ids", ids), ("exec", "/bin/true"), ("arg", "true")]
        /// Runs the shim on a document; `trailer` is what ends it (a record's NUL, by default).
        func shim(_ records: [(String, String)], version: String? = "1", argv: String = "", trailer: [UInt8] = []) throws -> (status: Int32, stderr: String) {
            var bytes: [UInt8] = version.map { Array("berth-shim-config=\($0)".utf8) + [0] } ?? []
            for (key, value) in records { bytes += Array("\(key)=\(value)".utf8) + [0] }
            if !trailer.isEmpty { bytes = bytes.dropLast() + trailer }
            FileManager.default.createFile(atPath: docPath, contents: Data(bytes))
            return try shell("'\(ctx.launcher.shimPath)' \(argv) 3< '\(docPath)'", scratch: ctx.scratch)
        }
        func refused(_ r: (status: Int32, stderr: String), _ mentions: String, _ what: String) throws {
            try require(r.status == 125 && r.stderr.contains(mentions), "\(what): exit \(r.status), \(r.stderr)")
            try require(access(status, F_OK) != 0, "\(what): a status was written, so something ran")
        }
        try refused(try shim(valid.filter { $0.0 != "ids" }), "ids", "no ids")
        try refused(try shim(valid, version: "2"), "version 1 only", "version 2")
        try refused(try shim(valid, version: nil), "berth-shim-config", "no version record")
        try refused(try shim(valid, trailer: Array("x".utf8)), "NUL", "an unended last record")
        try refused(try shim(valid + [("memroy", "1")]), "unknown key", "an unknown key")
        try refused(try shim(valid + [("uid", "7"), ("uid", "8")]), "given twice", "a key given twice")
        try refused(try shim(valid + [("network", "host")]), "network", "network without a sandbox")
        try refused(try shim(valid, argv: "r0123456789abcdef"), "usage", "argv naming another run")
        for (key, value) in [("uid", "abc"), ("uid", "0"), ("uid", "-1"), ("uid", "4294967295"), ("gid", " 7"), ("uid", "+7"),
                             ("timeout-ms", "5s"), ("nofile", "1e3"), ("stdio", "tty"), ("cap", "64"), ("network", "bridge"),
                             ("ids", "t0/j0/r0"), ("ids", "\(place.tenant)/\(place.job)"), ("ids", "\(ids)/r0123456789abcdef"),
                             ("ids", "T" + ids.dropFirst()), ("ids", "\(place.tenant)/\(place.run)/\(place.job)"),
                             ("log-max-bytes", "4095"), ("log-keep", "0"), ("log-keep", "101"), ("mkcwd", "yes")] {
            let records = valid.filter { key != "ids" || $0.0 != "ids" } + [(key, value)]
            try refused(try shim(records), key, "\(key) '\(value)'")
        }
        let r = try shim(valid + [("oom-control", "/nonexistent")], argv: place.run.rawValue)
        let s = ShimStatus.read(status)
        try require(r.status == 0 && s?.how == .launchFailed && (s?.message ?? "").contains("OOM"), "an OOM registration that fails: \(String(describing: s?.how)) \(s?.message ?? "")")
        try require(s?.version == 2 && s?.run == place.run.rawValue, "the launch_failed status lacks the run's ids")
        return "refused (125, naming the record): no ids, version 2, no version, an unended record, an unknown key, a key twice, network without a sandbox, argv naming another run, uid abc/0/-1/+7/2^32-1, padded numbers, units, 1e3, unknown stdio or network, cap 64, log sizes out of range; a failed OOM registration fails the launch"
    }),
    ("tenant-ids", { ctx in
        // Ids and uids are allocated and recorded, never derived from the name; a uid the host
        // already uses (nobody, 65534) is skipped.
        let state = ctx.scratch + "/ids-state"
        defer { try? FileManager.default.removeItem(atPath: state) }
        var layout = HostLayout()
        layout.runtimeDirectory = ctx.launcher.layout.runtimeDirectory
        layout.stateDirectory = state
        layout.checkpointRoot = state + "/checkpoints"
        layout.uidRange = 65_534...65_536
        let launcher = try Launcher(driver: ctx.launcher.driver, shimPath: ctx.launcher.shimPath, layout: layout)
        let scoped = Context(launcher: launcher, scratch: ctx.scratch, cgroupRoot: ctx.cgroupRoot, stage: ctx.stage)
        let a = try TenantName("ids-a"), b = try TenantName("ids-b")
        let (ra, uidA) = try scoped.output(of: ["id", "-u"]) { $0.tenant = a }
        let (rb, uidB) = try scoped.output(of: ["id", "-u"]) { $0.tenant = b }
        defer { launcher.removeIdleTree(a); launcher.removeIdleTree(b) }
        let recordA = try launcher.tenants.tenant(a), recordB = try launcher.tenants.tenant(b)
        let file = readFile(state + "/tenants")
        try require(recordA.id != recordB.id && file.contains("ids-a \(recordA.id) \(recordA.uid)"), "the registry holds: \(file)")
        try require(ra.cgroup.unifiedPath.contains("/tenants/\(recordA.id)/") && rb.cgroup.unifiedPath.contains("/tenants/\(recordB.id)/"),
                    "the cgroups do not use the recorded ids: \(ra.cgroup.unifiedPath)")
        try require(ra.ending == .exited(code: 0) && rb.ending == .exited(code: 0), "the jobs ended as \(ra.ending.summary), \(rb.ending.summary)")
        let uids = [uidA, uidB].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        try require(uids == ["65535", "65536"], "uids \(uids); 65534 (nobody) must be skipped")
        // Removing a tenant releases its checkpoints, its cgroup levels and then its uid.
        let leftover = try launcher.checkpoints.createJobDirectory(tenant: recordA.id, job: JobID(), uid: recordA.uid)
        try launcher.releaseTenant(a)
        try require(access(leftover, F_OK) != 0 && access(launcher.layout.checkpointRoot + "/" + recordA.id.rawValue, F_OK) != 0,
                    "the released tenant's checkpoints are still there")
        try require(try launcher.tenants.lookup(a) == nil && !readFile(state + "/tenants").contains("ids-a "), "still recorded")
        let c = try launcher.tenants.tenant(TenantName("ids-c"))
        try require(c.uid == recordA.uid && c.id != recordA.id, "the released uid was not reused: \(c.uid)")
        return "recorded ids \(recordA.id), \(recordB.id) name the cgroups; uids 65535 and 65536, skipping the host's nobody (65534); a released tenant's checkpoints go and its uid is given to the next, with a new id"
    }),
    ("checkpoint-quota", { ctx in
        let root = ctx.launcher.layout.checkpointRoot
        guard ctx.launcher.checkpoints.quota != nil else {
            // This filesystem has no project quotas on: nothing is limited, and nothing claims to be.
            try require(!CheckpointQuota.isEnforced(on: root), "quotas are on but the launcher does not use them")
            let r = try ctx.run(ctx.spec(["/bin/true"]))
            try require(r.cgroup.applied.checkpointBytes == nil, "a checkpoint limit is claimed where none is enforced")
            return "no project quotas on the filesystem of \(root): subtrees not limited, and no limit claimed (berth doctor warns)"
        }
        var layout = HostLayout()
        layout.runtimeDirectory = ctx.launcher.layout.runtimeDirectory
        layout.stateDirectory = ctx.launcher.layout.stateDirectory
        layout.checkpointRoot = root
        layout.checkpointQuotaBytes = 8 << 20
        let launcher = try Launcher(driver: ctx.launcher.driver, shimPath: ctx.launcher.shimPath, layout: layout)
        let limited = Context(launcher: launcher, scratch: ctx.scratch, cgroupRoot: ctx.cgroupRoot, stage: ctx.stage)
        // Two jobs at once: one fills past its 8 MiB, the other writes its 4 MiB untroubled.
        let fill = "dd if=/dev/zero of=\"$BERTH_CHECKPOINT_DIR/fill\" bs=1048576 count=16 2>/dev/null; echo $?; wc -c < \"$BERTH_CHECKPOINT_DIR/fill\""
        let calm = "dd if=/dev/zero of=\"$BERTH_CHECKPOINT_DIR/calm\" bs=1048576 count=4 2>/dev/null; echo $?; wc -c < \"$BERTH_CHECKPOINT_DIR/calm\""
        var neighbour = limited.spec(["/bin/sh", "-c", "sleep 0.2; { " + calm + "; } > \"$BERTH_CHECKPOINT_DIR/out\""])
        neighbour.timeoutMillis = 60_000
        let running = try launcher.start(neighbour)
        let (r, text) = try limited.output(of: ["/bin/sh", "-c", fill])
        let n = running.wait()
        let calmText = readFile(try launcher.checkpointDirectory(neighbour) + "/out")
        try launcher.removeCheckpoints(neighbour)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let written = Int(lines.last ?? "") ?? -1
        try require(r.ending == .exited(code: 0) && r.cgroup.applied.checkpointBytes == 8 << 20, "ended as \(r.ending.summary)")
        try require(lines.first != "0" && written > 0 && written <= 8 << 20, "16 MiB into an 8 MiB subtree: dd said \(lines.first ?? "?"), wrote \(written) B")
        try require(n.ending == .exited(code: 0) && calmText.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == ["0", String(4 << 20)],
                    "the neighbour's 4 MiB: \(calmText)")
        return "16 MiB into an 8 MiB checkpoint subtree stopped at \(written) B (EDQUOT); a neighbour's 4 MiB written meanwhile"
    }),
    ("granted-capabilities", { ctx in
        let port = String(600 + Int(getpid() % 300))
        let (without, plain) = try ctx.output(of: [ctx.probePath, "bind", port])
        let (with, granted) = try ctx.output(of: [ctx.probePath, "bind", port]) { $0.capabilities = ["NET_BIND_SERVICE"] }
        try require(without.ending == .exited(code: 0) && plain.contains("bind EACCES"), "without the capability: \(plain)")
        try require(with.ending == .exited(code: 0) && granted.contains("bind ok"), "with NET_BIND_SERVICE: \(granted)")
        for dangerous in ["SYS_ADMIN", "cap_sys_ptrace", "SYS_MODULE", "DAC_READ_SEARCH", "BPF", "NET_ADMIN", "nonsense"] {
            var spec = ctx.spec(["/bin/true"])
            spec.capabilities = [dangerous]
            do { _ = try ctx.launcher.start(spec); throw CheckFailure("\(dangerous) was granted") }
            catch let e as BerthError where e.code == .invalidSpec && e.message.hasPrefix("cap:") {}
        }
        return "port \(port): EACCES without, bound with NET_BIND_SERVICE (ambient); SYS_ADMIN, SYS_PTRACE, SYS_MODULE, DAC_READ_SEARCH, BPF, NET_ADMIN refused"
    }),
]

/// SHA-256 through the same C code the shim uses.
func sha256(_ bytes: [UInt8]) -> [UInt8] { SeccompCache.digest(bytes) }
