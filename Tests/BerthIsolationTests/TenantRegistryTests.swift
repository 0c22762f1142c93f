import Foundation
import Testing
import BerthCore
@testable import BerthIsolation

/// A class, so that `deinit` removes the temporary directory after each test.
@Suite final class TenantRegistryTests {
    let state = "/var/tmp/berth-tenants-\(UUID().uuidString)"

    init() throws {
        try FileManager.default.createDirectory(atPath: state + "/etc", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: state) }

    /// Fake account files in the state directory (missing ones hold nothing).
    func accounts(passwd: String = "", group: String = "", subuid: String? = nil, subgid: String? = nil) -> HostAccounts {
        let files = HostAccounts(passwd: state + "/etc/passwd", group: state + "/etc/group",
                                 subuid: state + "/etc/subuid", subgid: state + "/etc/subgid")
        for (path, text) in [(files.passwd, passwd), (files.group, group)] + [(files.subuid, subuid), (files.subgid, subgid)].compactMap({ p, t in t.map { (p, $0) } }) {
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        }
        return files
    }

    func registry(_ range: ClosedRange<UInt32> = 300_000...300_999, _ accounts: HostAccounts? = nil) -> TenantRegistry {
        TenantRegistry(stateDirectory: state, range: range, accounts: accounts ?? self.accounts())
    }

    func fileLines() -> [String] {
        ((try? String(contentsOfFile: state + "/tenants", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func isWellFormed(_ id: TenantID) -> Bool {
        id.rawValue.count == 17 && id.rawValue.first == "t" && id.rawValue.dropFirst().allSatisfy { "0123456789abcdef".contains($0) }
    }

    @Test func allocationIsStableAcrossInstances() throws {
        let first = try registry().tenant(.default)
        #expect(first.uid == 300_000 && first.gid == 300_000 && isWellFormed(first.id))
        #expect(try registry().tenant(.default) == first)
        #expect(try registry().lookup(.default) == first)
        #expect(try registry().lookup(TenantName("nobody-yet")) == nil)
        #expect(try registry().all() == [first], "lookup allocates nothing")
        #expect(fileLines() == [TenantRegistry.header, "default \(first.id) 300000"])
    }

    @Test func idsAreRandomUniqueAndWellFormed() throws {
        let registry = registry()
        let records = try (0..<50).map { try registry.tenant(TenantName("tenant-\($0)")) }
        #expect(Set(records.map(\.id)).count == 50 && records.allSatisfy { isWellFormed($0.id) })
        #expect(records.map(\.uid) == Array(300_000..<300_050))
    }

    @Test func tenantIDsParseStrictly() {
        #expect(TenantID("t0123456789abcdef")?.rawValue == "t0123456789abcdef")
        for bad in ["", "t", "t0123456789ABCDEF", "j0123456789abcdef", "t0123456789abcde", "t0123456789abcdef0", "t0123456789abcdeg", " t0123456789abcde"] {
            #expect(TenantID(bad) == nil, "\(bad)")
        }
    }

    @Test func uidsTheHostUsesAreSkipped() throws {
        let host = accounts(passwd: "root:x:0:0:root:/root:/bin/bash\nalice:x:300000:100::/home/alice:/bin/sh\n# comment\n\nbob:x:1000:300002::/:/bin/sh\n",
                            group: "root:x:0:\nops:x:300001:\n",
                            subuid: "bob:300003:2\n",
                            subgid: "carol:300006:1\n")
        let registry = registry(300_000...300_999, host)
        let uids = try (0..<4).map { try registry.tenant(TenantName("t\($0)")).uid }
        #expect(uids == [300_005, 300_007, 300_008, 300_009])
    }

    @Test func runningOutOfUidsIsAnError() throws {
        let registry = registry(300_000...300_002, accounts(passwd: "alice:x:300001:300001::/:/bin/sh\n"))
        _ = try registry.tenant(TenantName("a"))
        _ = try registry.tenant(TenantName("b"))
        #expect { try registry.tenant(TenantName("c")) } throws: { ($0 as? BerthError)?.message.hasPrefix("uid-range 300000-300002: no free uid") == true }
        #expect(try registry.lookup(TenantName("c")) == nil)
    }

    @Test func releaseFreesTheUidForReuse() throws {
        let registry = registry()
        let a = try registry.tenant(TenantName("a"))
        let b = try registry.tenant(TenantName("b"))
        #expect(try registry.release(TenantName("a")) == a)
        #expect(try registry.release(TenantName("a")) == nil)
        #expect(try registry.lookup(TenantName("a")) == nil)
        let c = try registry.tenant(TenantName("c"))
        #expect(c.uid == a.uid && c.id != a.id)
        #expect(try registry.lookup(TenantName("b")) == b)
        let again = try registry.tenant(TenantName("a"))
        #expect(again.uid == 300_002 && again.id != a.id, "a released tenant is new when it comes back")
    }

    @Test(arguments: ["", "200000", "0-10", "10-5", "abc", "1-4294967295", "1-4294967296", "1-99999999999", "-5-10", "+1-5",
                      " 1-5", "1-5 ", "1--5", "1-5-9", "0x10-0x20", "1_000-2_000", "١-٥"])
    func badRangesAreRefusedNamingTheField(text: String) {
        #expect {
            try TenantRegistry.parseRange(text)
        } throws: { error in
            guard let error = error as? BerthError else { return false }
            return error.code == .invalidSpec && error.message.hasPrefix("uid-range: ")
        }
    }

    @Test func rangesParse() throws {
        #expect(try TenantRegistry.parseRange("200000-299999") == 200_000...299_999)
        #expect(try TenantRegistry.parseRange("1-1") == 1...1)
        #expect(try TenantRegistry.parseRange("1-4294967294") == 1...4_294_967_294)
        #expect(throws: BerthError.invalid("uid-range", "must not include 0 (root)", got: "0-10")) { try TenantRegistry.parseRange("0-10") }
        #expect(throws: BerthError.invalid("uid-range", "first must not be greater than last", got: "10-5")) { try TenantRegistry.parseRange("10-5") }
    }

    @Test func aRegistryWithABadRangeRefusesToAllocate() throws {
        #expect { try registry(0...10).tenant(.default) } throws: { ($0 as? BerthError)?.message.hasPrefix("uid-range: must not include 0") == true }
    }

    @Test func validateListsEveryConflictInTheRange() throws {
        let host = accounts(passwd: "alice:x:300000:100::/home/alice:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n",
                            group: "ops:x:300001:\n", subuid: "bob:299000:2000\n", subgid: "carol:100000:65536\n")
        let conflicts = try host.validate(range: 300_000...300_999)
        #expect(conflicts.count == 3)
        #expect(conflicts.contains { $0.contains("user 'alice'") && $0.contains(host.passwd) })
        #expect(conflicts.contains { $0.contains("group 'ops'") })
        #expect(conflicts.contains { $0.contains("299000-300999") && $0.contains(host.subuid) })
        #expect(try host.validate(range: 400_000...499_999).isEmpty)
        #expect(try host.validate(range: 0...10).first == "uid-range: must not include 0 (root) (got '0-10')")
    }

    @Test func theOldUidFileIsImportedWithFreshIds() throws {
        _ = FileManager.default.createFile(atPath: state + "/tenant-uids", contents: Data("default 200000\nalpha 200007\n".utf8))
        let registry = registry(200_000...200_999)
        let alpha = try #require(try registry.lookup(TenantName("alpha")))
        #expect(alpha.uid == 200_007 && isWellFormed(alpha.id))
        #expect(try registry.tenant(.default).uid == 200_000)
        #expect(try registry.tenant(TenantName("beta")).uid == 200_001)
        #expect(try TenantRegistry(stateDirectory: state, range: 200_000...200_999).lookup(TenantName("alpha")) == alpha, "imported once")
        #expect(fileLines().first == TenantRegistry.header && fileLines().count == 4)
        #expect(FileManager.default.fileExists(atPath: state + "/tenant-uids"), "left for the old code until callers switch")
    }

    @Test func anOldFileItCannotReadIsNotImported() throws {
        _ = FileManager.default.createFile(atPath: state + "/tenant-uids", contents: Data("default 200000\nBad Name 5\n".utf8))
        #expect { try registry().tenant(.default) } throws: { ($0 as? BerthError)?.message.hasPrefix(state + "/tenant-uids:2: ") == true }
        #expect(!FileManager.default.fileExists(atPath: state + "/tenants"))
    }

    @Test(arguments: [
        ("default t0123456789abcdef 300000\n", ":1: must start with"),
        ("# berth tenants v2\n", ":1: unsupported version"),
        ("# berth tenants v1\na t0123456789abcdef 300000\nb t0123456789abcdef 300001\n", ":3: id t0123456789abcdef is recorded twice"),
        ("# berth tenants v1\na t0123456789abcdef 300000\nb t1123456789abcdef 300000\n", ":3: uid 300000 is recorded twice"),
        ("# berth tenants v1\na t0123456789abcdef 0\n", ":2: not a uid"),
        ("# berth tenants v1\na  t0123456789abcdef 300000\n", ":2: must be 'name id uid'"),
    ])
    func aDamagedFileIsRefusedNamingTheLine(text: String, expected: String) throws {
        _ = FileManager.default.createFile(atPath: state + "/tenants", contents: Data(text.utf8))
        #expect { try registry().lookup(.default) } throws: { ($0 as? BerthError)?.message.hasPrefix(state + "/tenants" + expected) == true }
    }

    @Test func concurrentAllocationsNeverShareAUidOrAnId() throws {
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var records: [TenantRecord] = []
            var errors: [String] = []
        }
        let results = Results()
        let range: ClosedRange<UInt32> = 300_000...300_999
        let host = accounts()
        let group = DispatchGroup()
        for thread in 0..<8 {
            group.enter()
            let state = state
            Thread {
                defer { group.leave() }
                let registry = TenantRegistry(stateDirectory: state, range: range, accounts: host)
                for i in 0..<50 {
                    do {
                        let record = try registry.tenant(TenantName("t\(thread)-\(i)"))
                        results.lock.withLock { results.records.append(record) }
                    } catch {
                        results.lock.withLock { results.errors.append("\(error)") }
                    }
                }
            }.start()
        }
        group.wait()
        #expect(results.errors.isEmpty, "\(results.errors.prefix(3))")
        #expect(results.records.count == 400)
        #expect(Set(results.records.map(\.uid)) == Set(300_000..<300_400))
        #expect(Set(results.records.map(\.id)).count == 400)
        let all = try registry(range, host).all()
        #expect(all.count == 400 && Set(all.map(\.name)) == Set(results.records.map(\.name)))
        #expect(fileLines().count == 401 && fileLines().first == TenantRegistry.header)
    }
}
