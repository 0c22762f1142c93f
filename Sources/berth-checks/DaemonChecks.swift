// The launch path as the daemon uses it: runs re-adopted from their handles after the process
// that started them is gone, status files that say on their own which run they are, log files
// the shim caps and rotates, and working directories made inside the run's private /tmp.
#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import Foundation

/// Waits (up to `ms`) until `condition` holds; returns whether it did.
func eventually(_ ms: Int = 10_000, _ condition: () -> Bool) -> Bool {
    var waited = 0
    while !condition() {
        if waited >= ms { return false }
        usleep(10_000)
        waited += 10
    }
    return true
}

/// The log files of one stream in `dir` (`stdout.log`, `stdout.log.1`…) and their sizes.
func logFiles(_ dir: String, _ stream: String) -> [String: Int] {
    var files: [String: Int] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(stream + ".log") {
        var st = stat()
        if lstat(dir + "/" + name, &st) == 0 { files[name] = Int(st.st_size) }
    }
    return files
}

/// The flood workload's lines: 64 bytes each, `<prefix><7 digits> ` then padding and a newline.
let floodLineLength = 64

func floodLine(_ prefix: UInt8, _ n: Int) -> [UInt8] {
    var line = [UInt8](repeating: UInt8(ascii: "x"), count: floodLineLength)
    line[0] = prefix
    var v = n
    for i in stride(from: 7, through: 1, by: -1) { line[i] = UInt8(48 + v % 10); v /= 10 }
    line[8] = UInt8(ascii: " ")
    line[floodLineLength - 1] = UInt8(ascii: "\n")
    return line
}

/// The line numbers in `text` (the concatenated files of one stream, oldest first), skipping a
/// first line cut by rotation; nil if any whole line is not one of the flood's.
func floodNumbers(_ text: [UInt8], prefix: UInt8) -> [Int]? {
    var numbers: [Int] = []
    var start = 0
    if let first = text.firstIndex(of: UInt8(ascii: "\n")), first + 1 != floodLineLength || text.first != prefix { start = first + 1 }
    while start + floodLineLength <= text.count {
        let line = Array(text[start..<start + floodLineLength])
        guard line[0] == prefix, line[floodLineLength - 1] == UInt8(ascii: "\n"),
              let n = Int(String(decoding: line[1...7], as: UTF8.self)) else { return nil }
        numbers.append(n)
        start += floodLineLength
    }
    return start == text.count ? numbers : nil
}

let daemonChecks: [Check] = [
    ("adopt", { ctx in
        // A running job, its StartedRun dropped: adopted from the handle alone, watched through
        // its pidfd, stopped by a signal, and its real ending read back.
        var spec = ctx.spec(ctx.workload("sleep", "30"))
        spec.timeoutMillis = 60_000
        spec.graceMillis = 2_000
        let first = try ctx.launcher.start(spec)
        let handle = first.handle
        let unified = first.cgroup.unifiedPath, directories = first.cgroup.directories
        defer { try? ctx.launcher.removeCheckpoints(spec) }
        try require(eventually { ShimStatus.read(handle.statusPath)?.state == .running }, "the job never started")
        var stale = handle
        stale.shimStart += 1
        try require(ctx.launcher.adopt(stale) == nil, "a handle with another start time for pid \(handle.shimPID) was adopted")
        guard let adopted = ctx.launcher.adopt(handle) else { throw CheckFailure("the running run was not adopted from its handle") }
        try require(adopted.spec == nil && adopted.cgroup.unifiedPath == unified && adopted.cgroup.directories == directories,
                    "the adopted run's cgroup \(adopted.cgroup.unifiedPath) is not the one created (\(unified))")
        let fd = try adopted.openPidfd()
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let early = poll(&p, 1, 0)
        adopted.signal(SIGTERM)
        let readable = poll(&p, 1, 15_000)
        close(fd)
        try require(early == 0 && readable == 1, "the shim's pidfd polled \(early) while it ran, \(readable) after the stop")
        let stopped = adopted.finish()
        try require(stopped.ending == .stopped(signal: Int(SIGTERM)), "the adopted run ended as \(stopped.ending.summary), want stopped by 15")
        try require(stopped.cgroupRemoved && directories.allSatisfy { access($0, F_OK) != 0 }, "the adopted run's cgroup is still there")
        try require(access("/proc/\(handle.shimPID)", F_OK) != 0, "the stopped shim (pid \(handle.shimPID)) was not reaped")
        try require(ctx.launcher.adopt(handle) == nil, "an ended run was adopted again")

        // A run whose shim is gone: the status file alone gives its real exit code.
        let quick = ctx.spec(["/bin/sh", "-c", "exit 7"])
        let quickHandle = try ctx.launcher.start(quick).handle
        defer { try? ctx.launcher.removeCheckpoints(quick) }
        try require(eventually { ctx.launcher.adopt(quickHandle) == nil }, "the shim of `exit 7` never ended")
        let ended = try ctx.launcher.ended(quickHandle)
        try require(ended.ending == .exited(code: 7) && ended.cgroupRemoved, "ended from the handle: \(ended.ending.summary), removed \(ended.cgroupRemoved)")
        try require(access("/proc/\(quickHandle.shimPID)", F_OK) != 0, "the exited shim (pid \(quickHandle.shimPID)) was not reaped")

        // A shim killed before its teardown wrote no ended status: what is left goes, and the
        // run ends as a launch failure saying so.
        var doomed = ctx.spec(ctx.workload("sleep", "30"))
        doomed.timeoutMillis = 60_000
        let doomedRun = try ctx.launcher.start(doomed)
        let doomedHandle = doomedRun.handle
        let doomedDirectories = doomedRun.cgroup.directories
        defer { try? ctx.launcher.removeCheckpoints(doomed) }
        try require(eventually { ShimStatus.read(doomedHandle.statusPath)?.state == .running }, "the doomed job never started")
        kill(doomedHandle.shimPID, SIGKILL)
        try require(eventually { ctx.launcher.adopt(doomedHandle) == nil }, "the killed shim still looks alive")
        let lost = try ctx.launcher.ended(doomedHandle)
        guard case .launchFailed(let message) = lost.ending, message.contains("killed by signal 9") else {
            throw CheckFailure("a killed shim's run ended as \(lost.ending.summary)")
        }
        try require(lost.cgroupRemoved && doomedDirectories.allSatisfy { access($0, F_OK) != 0 }, "the killed shim's cgroup is still there")
        return "adopted from its handle (a wrong start time refused), pidfd readable only once it ended, stopped → \(stopped.ending.summary); a gone shim's `exit 7` read from its status; a SIGKILLed shim's run removed: \(message)"
    }),
    ("log-levels", { ctx in
        // The shim makes the log levels below the base when the job first writes, one level at
        // a time: a symlink planted at one of them is refused, nothing is written through it.
        let base = ctx.launcher.layout.stateDirectory + "/logs-" + RunID().rawValue
        let elsewhere = base + "-elsewhere"
        defer { for dir in [base, elsewhere] { try? FileManager.default.removeItem(atPath: dir) } }
        for dir in [base, elsewhere] { try require(mkdir(dir, 0o700) == 0, "mkdir \(dir): \(Sys.errnoText(errno))") }
        try require(symlink(elsewhere, base + "/planted") == 0, "symlink: \(Sys.errnoText(errno))")
        var refused = ctx.spec(["/bin/sh", "-c", "echo through-the-link"])
        refused.logs = RunLogs(directory: base + "/planted/run", base: base)
        let r1 = try ctx.run(refused)
        try require(r1.ending == .exited(code: 0), "the job under a planted symlink ended as \(r1.ending.summary)")
        let leaked = (try? FileManager.default.contentsOfDirectory(atPath: elsewhere)) ?? []
        try require(leaked.isEmpty, "the shim wrote through the planted symlink: \(leaked)")
        var made = ctx.spec(["/bin/sh", "-c", "echo kept"])
        made.logs = RunLogs(directory: base + "/job/run", base: base)
        let r2 = try ctx.run(made)
        try require(r2.ending == .exited(code: 0), "the writing job ended as \(r2.ending.summary)")
        let text = FileManager.default.contents(atPath: base + "/job/run/stdout.log").map { String(decoding: $0, as: UTF8.self) }
        try require(text == "kept\n", "stdout.log holds \(text ?? "nothing")")
        var st = stat()
        for dir in [base + "/job", base + "/job/run"] {
            try require(lstat(dir, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR && st.st_mode & 0o777 == 0o700 && st.st_uid == 0,
                        "\(dir) is not a 0700 directory of root's")
        }
        try require(!Sys.exists(base + "/job/run/stderr.log"), "a stream the job never wrote to has a file")
        return "levels below the base made 0700 at the first write; a symlink planted at one refused, nothing written through it; no file for a silent stream"
    }),
    ("log-rotation", { ctx in
        // 20 MiB to stdout and 2 MiB to stderr, as fast as the job can, into 1 MiB files, 3 kept.
        let dir = ctx.launcher.layout.stateDirectory + "/logs/" + RunID().rawValue
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outBytes = 20 << 20, errBytes = 2 << 20
        var spec = ctx.spec(ctx.workload("flood", String(outBytes), String(errBytes)))
        spec.logs = RunLogs(directory: dir, maxBytes: 1 << 20, keep: 3)
        spec.timeoutMillis = 300_000
        let started = try ctx.launcher.start(spec)
        defer { try? ctx.launcher.removeCheckpoints(spec) }
        let bound = 4 << 20 + 64 << 10
        var largest = (out: 0, err: 0)
        while ShimStatus.read(started.statusPath)?.state != .ended {
            largest.out = max(largest.out, logFiles(dir, "stdout").values.reduce(0, +))
            largest.err = max(largest.err, logFiles(dir, "stderr").values.reduce(0, +))
            usleep(2_000)
        }
        let r = started.wait()
        try require(r.ending == .exited(code: 0), "the flooding job ended as \(r.ending.summary)")
        let out = logFiles(dir, "stdout"), err = logFiles(dir, "stderr")
        largest.out = max(largest.out, out.values.reduce(0, +))
        largest.err = max(largest.err, err.values.reduce(0, +))
        try require(largest.out <= bound && largest.err <= bound, "a stream took \(largest.out) / \(largest.err) bytes; bound \(bound)")
        try require(Set(out.keys) == ["stdout.log", "stdout.log.1", "stdout.log.2"] && out.values.allSatisfy { $0 <= 1 << 20 },
                    "stdout files: \(out.sorted { $0.key < $1.key })")
        try require(Set(err.keys).isSubset(of: ["stderr.log", "stderr.log.1", "stderr.log.2"]) && err.values.allSatisfy { $0 <= 1 << 20 },
                    "stderr files: \(err.sorted { $0.key < $1.key })")
        // The newest lines are kept, in order, with nothing missing between the files.
        func stream(_ name: String) -> [UInt8] {
            ["\(name).log.2", "\(name).log.1", "\(name).log"].flatMap { Array(FileManager.default.contents(atPath: dir + "/" + $0) ?? Data()) }
        }
        let outLines = outBytes / floodLineLength
        guard let numbers = floodNumbers(stream("stdout"), prefix: UInt8(ascii: "o")), let last = numbers.last else {
            throw CheckFailure("stdout's files are not whole flood lines")
        }
        try require(last == outLines - 1 && numbers == Array(numbers[0]...last), "stdout ends at line \(last) of \(outLines), or has a gap")
        try require(numbers.count * floodLineLength >= 2 << 20, "only \(numbers.count) lines kept")
        let errText = stream("stderr")
        let stdinLine = String(decoding: errText.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let errNumbers = floodNumbers(errText, prefix: UInt8(ascii: "e"))
        try require(errNumbers == Array(0..<errBytes / floodLineLength), "stderr does not hold the whole of its 2 MiB in order")
        // stdin is /dev/null; only root reads the directory and the files.
        try require(stdinLine == "stdin /dev/null read 0", "the job's stdin: \(stdinLine)")
        var st = stat()
        try require(stat(dir, &st) == 0 && st.st_uid == 0 && st.st_mode & 0o777 == 0o700, "the log directory's mode is \(String(st.st_mode & 0o777, radix: 8))")
        try require(stat(dir + "/stdout.log", &st) == 0 && st.st_uid == 0 && st.st_mode & 0o777 == 0o640, "stdout.log's mode is \(String(st.st_mode & 0o777, radix: 8))")
        return "20 MiB to stdout, 2 MiB to stderr in 1 MiB files, 3 kept: at most \(largest.out) and \(largest.err) bytes on disk; the last \(numbers.count) stdout lines kept in order, ending at the last; exited 0 in \(r.wallMillis) ms"
    }),
    ("status-ids", { ctx in
        var spec = ctx.spec(ctx.workload("sleep-exit", "0.5", "0"))
        let logs = ctx.launcher.layout.stateDirectory + "/logs/" + spec.runID.rawValue
        defer { try? FileManager.default.removeItem(atPath: logs) }
        spec.logs = RunLogs(directory: logs)
        // A file of the caller's left open across exec, as a daemon's socket or database might be.
        let marker = ctx.scratch + "/caller-fd-\(getpid())"
        let leaked = open(marker, O_WRONLY | O_CREAT, 0o600)
        defer { close(leaked); unlink(marker) }
        let started = try ctx.launcher.start(spec)
        let handle = started.handle
        defer { try? ctx.launcher.removeCheckpoints(spec) }
        try require(eventually { ShimStatus.read(handle.statusPath)?.state == .running }, "the job never started")
        let running = ShimStatus.read(handle.statusPath)
        // The shim outlives its caller: it holds none of the caller's files, and with log files
        // not even its stdio.
        let fds = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(handle.shimPID)/fd")) ?? []).compactMap(Int.init).sorted()
        let targets = fds.map { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(handle.shimPID)/fd/\($0)")) ?? "?" }
        let r = started.wait()
        try require(!fds.isEmpty && !targets.contains(marker), "the shim holds its caller's file: \(targets)")
        try require(Array(targets.prefix(3)) == ["/dev/null", "/dev/null", "/dev/null"], "the shim's stdio with log files: \(targets.prefix(3))")
        guard let s = ShimStatus.read(handle.statusPath), let running else { throw CheckFailure("no status file") }
        let tenant = try ctx.launcher.tenantID(spec.tenant).rawValue
        for (state, status) in [("running", running), ("ended", s)] {
            try require(status.version == 2 && status.tenant == tenant && status.job == spec.jobID.rawValue && status.run == spec.runID.rawValue,
                        "the \(state) status: version \(status.version), ids \(status.tenant ?? "-")/\(status.job ?? "-")/\(status.run ?? "-")")
            try require(status.cgroup == r.cgroup.unifiedPath, "the \(state) status names cgroup \(status.cgroup ?? "-"), not \(r.cgroup.unifiedPath)")
            try require(status.shimPID == handle.shimPID && status.shimStart == handle.shimStart && handle.shimStart > 0,
                        "the \(state) status names shim \(status.shimPID) started at \(status.shimStart ?? 0); the handle \(handle.shimPID) at \(handle.shimStart)")
        }
        try require(s.state == .ended && s.how == .exited && r.ending == .exited(code: 0), "ended as \(r.ending.summary)")
        try require(!Sys.exists(logs), "a run that wrote nothing made its log directory")
        let json = try JSONEncoder().encode(handle)
        try require(try JSONDecoder().decode(RunHandle.self, from: json) == handle, "the handle does not survive JSON")
        return "version 2, ids \(tenant)/\(spec.jobID)/\(spec.runID), cgroup and shim \(handle.shimPID) started at tick \(handle.shimStart), in the running and the ended status; the shim holds none of its caller's fds (\(fds.count) of its own); a silent run makes no log directory"
    }),
    ("private-workdir", { ctx in
        // A daemon's job starts in /tmp/<workdir>: made by the job, as the tenant, in its private tmpfs.
        var spec = ctx.spec(["/bin/sh", "-c", "pwd > \"$BERTH_CHECKPOINT_DIR/out\"; stat -c %u . >> \"$BERTH_CHECKPOINT_DIR/out\"; id -u >> \"$BERTH_CHECKPOINT_DIR/out\""])
        spec.workingDirectory = "/tmp/work/deep"
        spec.makeWorkingDirectory = true
        let r = try ctx.run(spec, keep: true)
        let lines = readFile(try ctx.launcher.checkpointDirectory(spec) + "/out").split(separator: "\n").map(String.init)
        try ctx.launcher.removeCheckpoints(spec)
        try require(r.ending == .exited(code: 0), "ended as \(r.ending.summary)")
        try require(lines.count == 3 && lines[0] == "/tmp/work/deep" && lines[1] == lines[2], "pwd, owner, uid: \(lines)")
        // Not made: a /tmp path names the host's /tmp, hidden from jobs; made elsewhere: refused.
        for (workdir, make) in [("/tmp/work", false), ("/opt/work", true), ("/tmp/../etc", true)] {
            var refused = ctx.spec(["/bin/true"])
            refused.workingDirectory = workdir
            refused.makeWorkingDirectory = make
            do { _ = try ctx.launcher.start(refused).wait(); throw CheckFailure("workdir \(workdir) (make \(make)) was accepted") }
            catch let e as BerthError where e.field == "workdir" {}
        }
        var unsandboxed = ctx.spec(["/bin/true"])
        unsandboxed.workingDirectory = "/tmp/work"
        unsandboxed.makeWorkingDirectory = true
        unsandboxed.sandboxed = false
        do { _ = try ctx.launcher.start(unsandboxed).wait(); throw CheckFailure("an unsandboxed run made its workdir") }
        catch let e as BerthError where e.field == "workdir" {}
        return "/tmp/work/deep made by the job as uid \(lines.last ?? "?") and entered; refused when not made, outside the private tmpfs, or unsandboxed"
    }),
]
