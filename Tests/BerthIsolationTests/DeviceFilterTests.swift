import Foundation
import Testing
import CBerthSys

private let isRoot = getuid() == 0 || ProcessInfo.processInfo.environment["BERTH_NO_SKIP"] == "1"
private let unifiedMount = "/sys/fs/cgroup/unified"

@Suite struct DeviceFilterTests {
    private func rule(_ type: Character, _ major: Int32, _ minor: Int32, _ access: UInt32 = 7) -> berth_device_rule {
        berth_device_rule(type: CChar(truncatingIfNeeded: type.asciiValue!), major: major, minor: minor, access: access)
    }

    @Test func defaultListIsRuncsMinusWhatBerthDoesNotNeed() {
        var count: Int32 = 0
        guard let p = berth_device_rules_default(&count) else { Issue.record("no default list"); return }
        let rules = (0..<Int(count)).map { p[$0] }
        let described = rules.map { "\(Character(Unicode.Scalar(UInt8(truncatingIfNeeded: $0.type)))) \($0.major):\($0.minor)" }
        #expect(described == ["c 1:3", "c 1:5", "c 1:7", "c 1:8", "c 1:9", "c 5:0", "c 5:2", "c 136:-1"])
        #expect(rules.allSatisfy { $0.access == UInt32(BERTH_DEV_RWM) })
    }

    @Test func rejectsMalformedRulesBeforeAnySyscall() {
        for bad in [rule("x", 1, 3), rule("c", -2, 3), rule("c", 1, -7), rule("c", 1, 3, 8)] {
            var r = bad
            errno = 0
            #expect(berth_device_filter_attach(-1, &r, 1) == -1)
            #expect(errno == EINVAL)
        }
        errno = 0
        #expect(berth_device_filter_attach(-1, nil, -1) == -1)
        #expect(errno == EINVAL)
        var many = [berth_device_rule](repeating: rule("c", 1, 3), count: 257)
        errno = 0
        #expect(berth_device_filter_attach(-1, &many, 257) == -1)
        #expect(errno == E2BIG)
    }

    @Test(.enabled(if: isRoot, "needs root: loads a BPF program"))
    func refusesADirectoryThatIsNotACgroup2() throws {
        var count: Int32 = 0
        let rules = berth_device_rules_default(&count)
        for path in ["/var/tmp", "/sys/fs/cgroup/devices"] where FileManager.default.fileExists(atPath: path) {
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            try #require(fd >= 0)
            defer { close(fd) }
            errno = 0
            #expect(berth_device_filter_attach(fd, rules, count) == -1, "\(path)")
            #expect(errno == EBADF, "\(path): the program loads, the attach refuses: \(String(cString: strerror(errno)))")
            #expect(String(cString: berth_device_filter_log()) == "", "the load succeeded, so no verifier log")
        }
    }

    /// Each line of the script's output is "<label> ok" or "<label> FAIL <stderr>".
    /// $1: cgroup directory to join ("" for none), $2: scratch directory for mknod, $3: a block device.
    private static let script = #"""
        if [ -n "$1" ]; then echo $$ > "$1/cgroup.procs" || exit 97; fi
        echo "cgroup ok $(grep '^0::' /proc/self/cgroup)"
        try() { label=$1; shift; if out=$("$@" 2>&1); then echo "$label ok"; else echo "$label FAIL $out"; fi; }
        try null-rw sh -c 'true <>/dev/null'
        try zero-read sh -c 'test "$(head -c 16 /dev/zero | wc -c)" = 16'
        try urandom-read sh -c 'test "$(head -c 16 /dev/urandom | wc -c)" = 16'
        try full-write sh -c 'true >/dev/full'
        try ptmx-rw sh -c 'true <>/dev/ptmx'
        try kmsg-read sh -c 'true </dev/kmsg'
        if [ -n "$3" ]; then try block-read sh -c 'true <"$0"' "$3"; fi
        try mknod-null mknod "$2/null" c 1 3
        try own-null-rw sh -c 'true <>"$0"' "$2/null"
        try mknod-mem mknod "$2/mem" c 1 1
        try mknod-block mknod "$2/loop" b 7 0
        """#

    private func run(cgroup: String, scratch: String, blockDevice: String) throws -> [String: String] {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", Self.script, "sh", cgroup, scratch, blockDevice]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "script exited \(process.terminationStatus): \(output)")
        var results: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { results[String(parts[0])] = String(parts[1]) }
        }
        return results
    }

    /// The first block device node under /dev, if any.
    private func someBlockDevice() -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev"))?.sorted() ?? []
        for name in names {
            var st = stat()
            if lstat("/dev/" + name, &st) == 0, st.st_mode & S_IFMT == S_IFBLK { return "/dev/" + name }
        }
        return ""
    }

    /// Kills whatever is left in the cgroup and removes it, retrying while the kernel reaps.
    private func removeCgroup(_ path: String) {
        for _ in 0..<100 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            if FileManager.default.fileExists(atPath: path + "/cgroup.kill") {
                try? "1".write(toFile: path + "/cgroup.kill", atomically: false, encoding: .utf8)
            } else if let procs = try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8) {
                for pid in procs.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
            }
            usleep(20_000)
        }
        Issue.record("could not remove \(path): \(String(cString: strerror(errno)))")
    }

    @Test(.enabled(if: isRoot, "needs root: attaches a BPF program to a cgroup"),
          .enabled(if: FileManager.default.fileExists(atPath: unifiedMount + "/cgroup.procs"),
                   "needs a cgroup2 hierarchy at \(unifiedMount)"))
    func kernelEnforcesTheDefaultList() throws {
        let name = "berth-devtest-\(UInt32.random(in: 0...UInt32.max))"
        let cgroup = unifiedMount + "/" + name
        guard mkdir(cgroup, 0o755) == 0 else {
            Issue.record("mkdir \(cgroup): \(String(cString: strerror(errno)))")
            return
        }
        defer { removeCgroup(cgroup) }
        let scratch = "/var/tmp/" + name
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        var count: Int32 = 0
        let rules = berth_device_rules_default(&count)
        let fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(fd >= 0)
        let rc = berth_device_filter_attach(fd, rules, count)
        let attachErrno = errno
        close(fd)
        try #require(rc == 0, "attach: \(String(cString: strerror(attachErrno))) \(String(cString: berth_device_filter_log()))")

        let block = someBlockDevice()
        // The control: the same script outside the cgroup, where root may do all of it. So a
        // denial below comes from the filter, not from the host.
        let control = try run(cgroup: "", scratch: scratch + "/control", blockDevice: block)
        let labels = ["null-rw", "zero-read", "urandom-read", "full-write", "ptmx-rw", "kmsg-read",
                      "mknod-null", "own-null-rw", "mknod-mem", "mknod-block"] + (block.isEmpty ? [] : ["block-read"])
        for label in labels { #expect(control[label] == "ok", "control \(label): \(control[label] ?? "missing")") }

        // In the cgroup: the filter's program fd was closed inside the attach call, so whatever
        // is enforced here is held by the attachment alone.
        let jailed = try run(cgroup: cgroup, scratch: scratch + "/jailed", blockDevice: block)
        #expect(jailed["cgroup"] == "ok 0::/\(name)", "the script ran in the cgroup: \(jailed["cgroup"] ?? "missing")")
        for label in ["null-rw", "zero-read", "urandom-read", "full-write", "ptmx-rw", "mknod-null", "own-null-rw"] {
            #expect(jailed[label] == "ok", "\(label) must be allowed: \(jailed[label] ?? "missing")")
        }
        var denied = ["kmsg-read", "mknod-mem", "mknod-block"]
        if !block.isEmpty { denied.append("block-read") }
        for label in denied {
            let result = jailed[label] ?? "missing"
            #expect(result.hasPrefix("FAIL") && result.contains("Operation not permitted"),
                    "\(label) must fail with EPERM: \(result)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch + "/jailed/mem"))
    }
}
