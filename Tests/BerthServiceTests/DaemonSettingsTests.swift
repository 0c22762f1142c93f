import BerthCore
import BerthServer
import Foundation
import Testing

@Suite struct DaemonSettingsTests {
    @Test func everythingLivesInTheStateDirectory() throws {
        var s = DaemonSettings()
        try s.set("state-dir", "/srv/berth")
        try s.finish()
        #expect(s.socketPath == "/srv/berth/berth.sock")
        #expect(s.storePath == "/srv/berth/berth.db")
        #expect(s.operatorTokenPath == "/srv/berth/operator.token")
        #expect(s.layout.runtimeDirectory == "/srv/berth/run")
        #expect(s.layout.checkpointRoot == "/srv/berth/checkpoints")
        // The whole directory is hidden from jobs: store, logs, token.
        #expect(s.layout.masked.contains("/srv/berth"))
    }

    @Test func badSettingsNameTheKey() throws {
        var s = DaemonSettings()
        #expect(throws: BerthError.self) { try s.set("colour", "red") }
        #expect((try? s.set("rate-limit", "-1")) == nil)
        #expect((try? s.set("stop-jobs", "yes")) == nil)
        #expect((try? s.set("uid-range", "0-10")) == nil)
        do { try s.set("log-keep", "0") } catch let e as BerthError { #expect(e.field == "log-keep") }
    }

    @Test func aSocketPathTooLongIsAClearError() throws {
        var s = DaemonSettings()
        try s.set("state-dir", "/srv/" + String(repeating: "d", count: 110))
        do {
            try s.finish()
            Issue.record("accepted a socket path over 107 bytes")
        } catch let e as BerthError {
            #expect(e.field == "socket" && e.message.contains("107"))
        }
    }

    @Test func plainTCPOnlyOnLoopbackAndOnlyWhenAskedFor() throws {
        var s = DaemonSettings()
        try s.set("listen", "127.0.0.1:8080")
        #expect(throws: BerthError.self) { try s.finish() }
        try s.set("insecure-tcp", "true")
        try s.finish()
        var public_ = DaemonSettings()
        try public_.set("listen", "0.0.0.0:8080")
        try public_.set("insecure-tcp", "true")
        #expect(throws: BerthError.self) { try public_.finish() }
    }

    @Test func theConfigFileIsReadStrictly() throws {
        let file = FileManager.default.temporaryDirectory.path + "/berth-config-\(UInt32.random(in: 0 ... .max)).yaml"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "state-dir: /srv/b\nrate-limit: 10\nlog-max-bytes: 1Mi\n".write(toFile: file, atomically: true, encoding: .utf8)
        var s = DaemonSettings()
        try s.load(file: file)
        #expect(s.stateDirectory == "/srv/b" && s.rateLimit == 10 && s.logMaxBytes == 1 << 20)
        try "state-dir: /srv/b\nno-such-key: 1\n".write(toFile: file, atomically: true, encoding: .utf8)
        var t = DaemonSettings()
        #expect(throws: BerthError.self) { try t.load(file: file) }
    }
}
