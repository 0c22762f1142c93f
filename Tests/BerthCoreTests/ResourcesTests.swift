import Testing
@testable import BerthCore

@Suite struct ResourceParsingTests {
    func parse(_ configure: (inout ResourceRequest) -> Void) throws -> Resources {
        var r = ResourceRequest()
        configure(&r)
        return try Resources(parsing: r)
    }

    @Test(arguments: [
        ("0.5", 500_000), ("500m", 500_000), ("1", 1_000_000), ("2.25", 2_250_000), ("10m", 10_000), ("64", 64_000_000),
    ])
    func cpuAccepted(text: String, microcores: Int) throws {
        let r = try parse { $0.cpu = text }
        #expect(r.cpuMicrocores == microcores)
        #expect(r.cpuQuotaMicros == microcores / 10)
    }

    @Test(arguments: [
        ("-1", "no sign"), ("0", "at least 0.01"), ("1m", "at least 0.01"), ("9m", "at least 0.01"), ("", "must not be empty"),
        ("NaN", "unknown unit"), ("1e18", "no sign, exponent"), ("0.5x", "unknown unit"), ("1.2.3", "decimal number"),
        ("100000", "at most 65536"), ("0.0000001", "whole number"), (" 1", "no sign, exponent or spaces"),
    ])
    func cpuRejected(text: String, rule: String) {
        #expect {
            try parse { $0.cpu = text }
        } throws: { error in
            let e = error as? BerthError
            return e?.code == .invalidSpec && e!.message.hasPrefix("cpu: ") && e!.message.contains(rule)
        }
    }

    @Test(arguments: [
        ("64Mi", 64 << 20), ("2G", 2_000_000_000), ("1Gi", 1 << 30), ("4096", 4096), ("1.5Gi", 3 << 29), ("4Ki", 4096), ("1Pi", 1 << 50),
    ])
    func memoryAccepted(text: String, bytes: Int) throws {
        #expect(try parse { $0.memory = text }.memoryMax == bytes)
    }

    @Test(arguments: [
        ("-1", "no sign"), ("0", "at least 4Ki"), ("1", "at least 4Ki"), ("400m", "unknown unit"), ("1e30", "no sign, exponent"),
        ("9223372036854775808", "too large"), ("18446744073709551616", "too large"), ("2Pi", "at most 1Pi"),
        ("16Ei", "too large"), ("0.5", "whole number of bytes"), ("", "must not be empty"), ("NaN", "unknown unit"),
    ])
    func memoryRejected(text: String, rule: String) {
        #expect {
            try parse { $0.memory = text }
        } throws: { error in
            let e = error as? BerthError
            return e?.code == .invalidSpec && e!.message.hasPrefix("memory: ") && e!.message.contains(rule)
        }
    }

    @Test func memoryHighMustNotExceedMax() {
        #expect(throws: BerthError.invalid("memory-high", "must not exceed memory (67108864 bytes)", got: "128Mi")) {
            try parse { $0.memory = "64Mi"; $0.memoryHigh = "128Mi" }
        }
    }

    @Test func swapIsOffUnlessAsked() throws {
        #expect(try parse { $0.memory = "64Mi" }.swapMax == 0)
        #expect(try parse { $0.memory = "64Mi"; $0.swap = "1Gi" }.swapMax == 1 << 30)
    }

    @Test(arguments: [("1", 1), ("32", 32), ("4194304", 4_194_304)])
    func pidsAccepted(text: String, value: Int) throws {
        #expect(try parse { $0.pids = text }.pids == value)
    }

    @Test(arguments: ["0", "-1", "4194305", "1.5", "32k", "", "99999999999999999999999"])
    func pidsRejected(text: String) {
        #expect {
            try parse { $0.pids = text }
        } throws: { ($0 as? BerthError)?.message.hasPrefix("pids: ") == true }
    }

    @Test func ioLimits() throws {
        let r = try parse { $0.ioWrite = "1Mi"; $0.ioReadIOPS = "100"; $0.ioDevice = "/var" }
        #expect(r.io?.writeBytesPerSecond == 1 << 20)
        #expect(r.io?.readIOPS == 100)
        #expect(r.io?.readBytesPerSecond == nil)
        #expect(r.io?.devicePath == "/var")
    }

    @Test func ioRejected() {
        #expect(throws: BerthError.self) { try parse { $0.ioWrite = "1" } }
        #expect(throws: BerthError.self) { try parse { $0.ioWriteIOPS = "0" } }
        #expect(throws: BerthError.self) { try parse { $0.ioDevice = "/var" } }             // no limit given
        #expect(throws: BerthError.self) { try parse { $0.ioWrite = "1Mi"; $0.ioDevice = "relative" } }
    }

    @Test func cpuWeightRange() throws {
        #expect(try parse { $0.cpuWeight = "100" }.cpuWeight == 100)
        #expect(throws: BerthError.self) { try parse { $0.cpuWeight = "0" } }
        #expect(throws: BerthError.self) { try parse { $0.cpuWeight = "10001" } }
    }

    @Test func pageRounding() {
        #expect(Resources.pageRounded(10_000) == 8192)
        #expect(Resources.pageRounded(64 << 20) == 64 << 20)
    }

    @Test func errorsEscapeControlCharacters() {
        #expect {
            try parse { $0.memory = "1\u{0}G" }
        } throws: { ($0 as? BerthError)?.message.contains("\\u{0}") == true }
    }
}

@Suite struct DurationTests {
    @Test(arguments: [("30s", 30_000), ("500ms", 500), ("2m", 120_000), ("1h", 3_600_000), ("1.5s", 1500), ("3", 3000)])
    func accepted(text: String, millis: Int) throws {
        #expect(try parseDuration(text, field: "timeout") == millis)
    }

    @Test(arguments: ["", "-1s", "0", "0s", "1d", "abc", "1e3s", "s", "400d"])
    func rejected(text: String) {
        #expect {
            try parseDuration(text, field: "timeout")
        } throws: { ($0 as? BerthError)?.message.hasPrefix("timeout: ") == true }
    }
}

@Suite struct IdentifierTests {
    @Test(arguments: ["default", "team-a", "a1"])
    func tenantNamesAccepted(name: String) throws {
        #expect(try TenantName(name).rawValue == name)
    }

    @Test(arguments: ["", "../../x", "/abs", "A", "a b", "memory.max", "%2e%2e%2f", "a\u{0}", String(repeating: "a", count: 33), "ａ"])
    func tenantNamesRejected(name: String) {
        #expect(throws: BerthError.self) { try TenantName(name) }
    }

    @Test func specErrorsCarryTheirField() {
        #expect(BerthError.invalid("memory", "must be at least one page").field == "memory")
        #expect(BerthError(.system, "open x: No such file").field == nil)
        #expect(throws: BerthError.self) { try TenantName("../x") }
        do { _ = try TenantName("../x") } catch let e as BerthError { #expect(e.field == "tenant" && e.code == .invalidSpec) } catch {}
    }

    @Test func runIDsAreDistinctAndParse() {
        let a = RunID(), b = RunID()
        #expect(a != b)
        #expect(RunID(a.rawValue) == a)
        #expect(RunID("r../../etc") == nil)
        #expect(JobID("1 OR 1=1") == nil)
    }
}

@Suite struct RunEndingTests {
    @Test func exitCodesFollowDockerRun() {
        #expect(RunEnding.exited(code: 3).exitCode == 3)
        #expect(RunEnding.signaled(signal: 15).exitCode == 143)
        #expect(RunEnding.oomKilled(byTenantLimit: false).exitCode == 137)
        #expect(RunEnding.timedOut.exitCode == 124)
        #expect(RunEnding.launchFailed(message: "x").exitCode == 125)
        #expect(RunEnding.execFailed(errno: 13).exitCode == 126)
        #expect(RunEnding.execFailed(errno: 2).exitCode == 127)
        #expect(RunEnding.stopped(signal: 2).exitCode == 130)
    }
}

@Suite struct JobEnvironmentTests {
    @Test func onlyTheFixedVariablesTermLangAndWhatIsAsked() throws {
        let caller = ["TERM": "xterm", "SECRET": "daemon-only", "FROM_CALLER": "copied", "PATH": "/caller/bin"]
        let env = try JobEnvironment.build(requested: ["GREETING=hello", "FROM_CALLER", "GREETING=again"], caller: caller)
        #expect(env == ["PATH=\(JobEnvironment.path)", "HOME=/tmp", "TERM=xterm", "FROM_CALLER=copied", "GREETING=again"])
    }

    @Test(arguments: ["BERTH_RUN_ID=x", "=x", "A-B=1", "A B=1", "ä=1", "A=\u{0}"])
    func badNamesAreRefusedNamingTheField(item: String) {
        #expect(throws: BerthError.self) { try JobEnvironment.build(requested: [item], caller: [:]) }
        do { _ = try JobEnvironment.build(requested: [item], caller: [:]) } catch let e as BerthError { #expect(e.field == "env") } catch {}
    }
}
