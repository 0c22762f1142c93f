import Foundation
import Testing
import BerthCore
@testable import BerthIsolation

@Suite struct ShimStatusVersionTests {
    func decode(_ json: String) throws -> ShimStatus {
        let path = NSTemporaryDirectory() + "berth-status-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try json.write(toFile: path, atomically: false, encoding: .utf8)
        return try #require(ShimStatus.read(path))
    }

    @Test func versionTwoNamesItsRunCgroupAndShim() throws {
        let s = try decode("""
        {"version":2,"state":"running","tenant":"t00000000000000a1","job":"j0123456789abcdef","run":"r0123456789abcdef","cgroup":"/sys/fs/cgroup/unified/berth/tenants/t00000000000000a1/j0123456789abcdef-r0123456789abcdef","shim_pid":10,"shim_start":123456789,"pid":11,"started_ns":1000}
        """)
        let place = try #require(s.place)
        #expect(s.version == 2 && s.shimStart == 123_456_789 && s.cgroup?.hasSuffix(place.leafName) == true)
        #expect(s.belongs(to: place))
        #expect(!s.belongs(to: RunPlace(tenant: place.tenant, job: place.job, run: RunID())))
    }

    @Test func versionOneStillReads() throws {
        let s = try decode("""
        {"version":1,"state":"ended","shim_pid":10,"pid":11,"started_ns":1000,"how":"exited","code":3}
        """)
        #expect(s.version == 1 && s.place == nil && s.shimStart == nil && s.code == 3)
        #expect(s.belongs(to: RunPlace(tenant: TenantID("t00000000000000a1")!, job: JobID(), run: RunID())), "a file without ids is not refused")
    }

    @Test func aResultIsBuiltFromTheStatusAndTheDriverAlone() throws {
        let s = try decode("""
        {"version":2,"state":"ended","tenant":"t00000000000000a1","job":"j0123456789abcdef","run":"r0123456789abcdef","cgroup":"/x","shim_pid":10,"shim_start":5,"pid":11,"started_ns":1000000000,"how":"signaled","signal":9,"ended_ns":3000000000,"stuck":false,"cgroup_removed":true,"oom_group_kill":false,"stats":{"memory.events":"oom 1\\noom_kill 1\\n"}}
        """)
        let fs = try FakeCgroupFS()
        let driver = CgroupV2Driver(mount: fs.root, ownCgroup: "/", processID: 1)
        let place = try #require(s.place)
        let r = RunResult(place: place, status: s, cgroup: driver.runCgroup(for: place), driver: driver)
        #expect(r.ending == .oomKilled(byTenantLimit: false) && r.wallMillis == 2000 && r.cgroupRemoved && r.jobPID == 11)
        #expect(RunReport(r).tenant == "t00000000000000a1", "without a name, the report shows the tenant's id")
        #expect(RunReport(r, tenant: .default).tenant == "default")
    }
}

@Suite struct RunHandleTests {
    @Test func survivesJSONAndParsesItsIds() throws {
        let h = RunHandle(tenant: "t00000000000000a1", job: "j0123456789abcdef", run: "r0123456789abcdef",
                          shimPID: 42, shimStart: 987_654_321, statusPath: "/run/berth/runs/r0123456789abcdef.json")
        let decoded = try JSONDecoder().decode(RunHandle.self, from: JSONEncoder().encode(h))
        #expect(decoded == h && h.place?.leafName == "j0123456789abcdef-r0123456789abcdef")
        var bad = h
        bad.tenant = "../etc"
        #expect(bad.place == nil)
    }

    @Test func processStatIsReadFromTheLastParenthesis() throws {
        let line = "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 7654321 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
        #expect(ProcessStat.parse(line) == ProcessStat(state: "S", start: 7_654_321))
        #expect(ProcessStat.parse("4242 (x) Z 1 2 3") == nil, "too few fields")
        #expect(ProcessStat.parse(line.replacingOccurrences(of: "7654321", with: "-7")) == nil)
        let own = try #require(ProcessStat.read(getpid()))
        #expect(own.start > 0 && ProcessStat.isRunning(getpid(), start: own.start) && !ProcessStat.isRunning(getpid(), start: own.start + 1))
    }
}

@Suite struct RunLogsTests {
    let base = NSTemporaryDirectory() + "berth-logs-\(UUID().uuidString)"

    @Test func filesAreNewestFirst() {
        #expect(RunLogs(directory: "/l", maxBytes: 4096, keep: 3).files("stdout") == ["/l/stdout.log", "/l/stdout.log.1", "/l/stdout.log.2"])
    }

    @Test(arguments: [("relative", 4096, 3, "logs.directory"), ("/", 4096, 3, "logs.directory"), ("/a/../b", 4096, 3, "logs.directory"),
                      ("/l", 4096, 3, "logs.base"),   // the launcher makes the parent, which must not be /
                      ("/l/r", 4095, 3, "logs.maxBytes"), ("/l/r", 4096, 0, "logs.keep"), ("/l/r", 4096, 101, "logs.keep")])
    func badSettingsNameTheirField(directory: String, maxBytes: Int, keep: Int, field: String) {
        #expect { try LogDirectory.check(RunLogs(directory: directory, maxBytes: maxBytes, keep: keep)) }
            throws: { ($0 as? BerthError)?.field == field }
    }

    @Test func theBaseIsAnAncestorOfTheDirectory() {
        #expect { try LogDirectory.check(RunLogs(directory: "/a/b/c", base: "/a/x")) } throws: { ($0 as? BerthError)?.field == "logs.base" }
        #expect { try LogDirectory.check(RunLogs(directory: "/a/bc", base: "/a/b")) } throws: { ($0 as? BerthError)?.field == "logs.base" }
        #expect { try LogDirectory.check(RunLogs(directory: "/a/b", base: "/a/b")) } throws: { ($0 as? BerthError)?.field == "logs.base" }
        #expect(throws: Never.self) { try LogDirectory.check(RunLogs(directory: "/a/b/c", base: "/a")) }
        #expect(RunLogs(directory: "/a/b/c").base == "/a/b")
    }

    @Test func makesTheDirectoryPrivateAndRefusesSymlinks() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let made = try LogDirectory.make(base + "/a/run")
        #expect(made == [base + "/a/run", base + "/a", base])
        var st = stat()
        #expect(stat(base + "/a/run", &st) == 0 && st.st_mode & 0o777 == 0o700)
        chmod(base + "/a/run", 0o755)
        #expect(try LogDirectory.make(base + "/a/run").isEmpty, "an existing one is kept, and made private again")
        #expect(stat(base + "/a/run", &st) == 0 && st.st_mode & 0o777 == 0o700)
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: base + "/a")
        #expect { try LogDirectory.make(base + "/link/run") } throws: { ($0 as? BerthError)?.field == "logs.directory" }
        // O_NOFOLLOW with O_DIRECTORY on a symlink: ENOTDIR (ELOOP without O_DIRECTORY).
        #expect { try LogDirectory.make(base + "/link") } throws: { [ELOOP, ENOTDIR].contains(($0 as? BerthError)?.errno ?? 0) }
        #expect(!FileManager.default.fileExists(atPath: base + "/a/run/run"))
    }
}
