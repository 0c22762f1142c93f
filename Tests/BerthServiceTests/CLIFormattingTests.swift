import BerthCore
import Testing
@testable import BerthClient

@Suite struct CLIFormattingTests {
    @Test(arguments: [
        ("plain-name", "plain-name"),
        ("evil\u{1b}]0;owned\u{07}", "evil\\u{1b}]0;owned\\u{7}"),
        ("line\nbreak\ttab\rcr", "line\\nbreak\\ttab\\rcr"),
        ("del\u{7f}csi\u{9b}31m", "del\\u{7f}csi\\u{9b}31m"),
        ("rtl\u{202e}txt.exe", "rtl\\u{202e}txt.exe"),
        ("café ünïcode 日本", "café ünïcode 日本"),
    ])
    func escaping(input: String, shown: String) {
        #expect(Format.escaped(input) == shown)
    }

    @Test func tableAlignsEscapesAndTrimsTrailingSpace() {
        let text = Format.table(["ID", "NAME", "REASON"], [["j1", "a\u{1b}[2J", ""], ["j22", "bb", "waiting"]])
        #expect(text == """
            ID   NAME        REASON
            j1   a\\u{1b}[2J
            j22  bb          waiting

            """)
    }

    @Test func tableTruncatesTheFlexibleColumnToFit() {
        let reason = "waiting for quota: memory 768Mi of 1Gi used by other jobs of this tenant"
        let text = Format.table(["ID", "REASON"], [["j1", reason]], width: 40, flexible: 1)
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= 40 })
        #expect(lines[1].hasSuffix("…"))
        #expect(lines[1].hasPrefix("j1  waiting for quota"))
        // Nothing cut when it fits, or when no width is known.
        #expect(Format.table(["ID", "REASON"], [["j1", reason]], flexible: 1).contains(reason))
        // Never below 10 characters, however narrow the terminal.
        let narrow = Format.table(["ID", "REASON"], [["j1", reason]], width: 5, flexible: 1)
        #expect(narrow.split(separator: "\n")[1] == "j1  waiting f…")
    }

    @Test(arguments: [
        (4_000_000, "4"), (1_500_000, "1.5"), (250_000, "0.25"), (0, "0"), (1_234_567, "1.23"),
        (1_235_000, "1.24"), (5_000, "0.01"), (4_000, "4m"), (10, "1m"), (999_999, "1"),
    ])
    func cores(microcores: Int, shown: String) {
        #expect(Units.cores(microcores: microcores) == shown)
    }

    @Test(arguments: [
        (0, "0"), (512, "512"), (1024, "1Ki"), (805_306_368, "768Mi"), (8 << 30, "8Gi"),
        (1_610_612_736, "1.5Gi"), (100 << 20, "100Mi"), (1_073_741_823, "1024Mi"), (3 << 40, "3Ti"),
    ])
    func bytes(value: Int, shown: String) {
        #expect(Units.bytes(value) == shown)
    }

    @Test(arguments: [(0, "0"), (100_000_000, "100Mbit"), (1_500_000_000, "1.5Gbit"), (999, "999bit"), (64_000, "64Kbit")])
    func bits(value: Int, shown: String) {
        #expect(Units.bits(value) == shown)
    }

    @Test func usageAndEndings() {
        #expect(Format.usage("768Mi", "1Gi") == "768Mi/1Gi")
        #expect(Format.usage("0.5", nil) == "0.5/none")
        #expect(Format.ending("exited", code: 0) == "exited 0")
        #expect(Format.ending("signaled", code: 9) == "signaled 9")
        #expect(Format.ending("oom_killed", code: 137) == "oom_killed (137)")
        #expect(Format.ending(nil, code: nil) == "")
    }

    @Test func truncation() {
        #expect(Format.truncated("abcdef", to: 6) == "abcdef")
        #expect(Format.truncated("abcdef", to: 4) == "abc…")
        #expect(Format.truncated("abcdef", to: 1) == "a")
    }

    @Test func ages() {
        let now: Int64 = 1_700_000_000_000
        #expect(Format.age(since: now - 42_000, now: now) == "42s")
        #expect(Format.age(since: now - 17 * 60_000, now: now) == "17m")
        #expect(Format.age(since: now - 5 * 3_600_000, now: now) == "5h")
        #expect(Format.age(since: now - 3 * 86_400_000, now: now) == "3d")
        #expect(Format.age(since: now + 5_000, now: now) == "0s")       // a clock ahead of ours
    }

    @Test func times() {
        // 2023-11-14 22:13:20 UTC.
        let t: Int64 = 1_700_000_000_000
        #expect(Format.dateTime(t, utcOffset: 0) == "2023-11-14 22:13:20")
        #expect(Format.dateTime(t, utcOffset: 2 * 3_600) == "2023-11-15 00:13:20")
        #expect(Format.clock(t, utcOffset: -5 * 3_600) == "17:13:20")
        #expect(Format.dateTime(0, utcOffset: 0) == "1970-01-01 00:00:00")
        #expect(Format.dateTime(951_782_400_000, utcOffset: 0) == "2000-02-29 00:00:00")
        #expect(Format.dateTime(-1_000, utcOffset: 0) == "1969-12-31 23:59:59")
    }

    @Test func pathSegmentsAreEncoded() throws {
        #expect(percentEncoded("train-1.v2_x~") == "train-1.v2_x~")
        #expect(percentEncoded("a/b?c d") == "a%2Fb%3Fc%20d")
        #expect(percentEncoded("..") == "%2E%2E")
        let url = try Endpoint.socket("/var/lib/berth/berth.sock").url("/v1/jobs")
        #expect(url == "http+unix://%2Fvar%2Flib%2Fberth%2Fberth.sock/v1/jobs")
        #expect(try Endpoint.address("localhost:7070") == .url("http://localhost:7070"))
        #expect(try Endpoint.address("https://berth.example:443/") == .url("https://berth.example:443"))
        #expect(throws: ClientError.self) { try Endpoint.address("ftp://x") }
        #expect(throws: ClientError.self) { try Endpoint.address("http://x/path") }
    }
}
