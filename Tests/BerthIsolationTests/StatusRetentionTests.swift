import Foundation
import Testing
import BerthCore
@testable import BerthIsolation

/// A class, so that `deinit` removes the temporary directory after each test.
@Suite final class StatusRetentionTests {
    let directory = "/var/tmp/berth-status-\(UUID().uuidString)"
    let now: Int64 = 1_750_000_000 * 1_000_000_000
    let second: Int64 = 1_000_000_000

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes a status file as the shim does (its mtime is when it wrote `ended_ns`);
    /// `endedNanos` nil leaves `ended_ns` out.
    @discardableResult
    func write(_ run: RunID = RunID(), state: String = "ended", endedNanos: Int64?, name: String? = nil) -> RunID {
        var json = #"{"version":1,"state":"\#(state)","shim_pid":10,"pid":11,"started_ns":\#(now - 3600 * second)"#
        if state == "ended" {
            json += #","how":"exited","code":0,"signal":0,"errno":0,"step":0"#
            if let endedNanos { json += #","ended_ns":\#(endedNanos)"# }
            json += #","stuck":false,"cgroup_removed":true,"oom_group_kill":false"#
        }
        json += "}\n"
        let path = "\(directory)/\(name ?? run.rawValue + ".json")"
        _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
        if let endedNanos {
            try? FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(endedNanos) / 1e9)], ofItemAtPath: path)
        }
        return run
    }

    func exists(_ run: RunID) -> Bool { FileManager.default.fileExists(atPath: "\(directory)/\(run.rawValue).json") }

    @Test func theDefaultsKeepAThousandForAWeek() {
        #expect(StatusRetention.standard.keepLast == 1000)
        #expect(StatusRetention.standard.maxAgeSeconds == 7 * 24 * 3600)
    }

    @Test func keepsTheNewestAndRemovesTheRestOldestFirst() throws {
        let runs = (0..<10).map { i in write(endedNanos: now - Int64(i) * 60 * second) }   // runs[0] is the newest
        let result = try StatusRetention(keepLast: 3, maxAgeSeconds: 86_400).prune(directory: directory, now: now)
        #expect(result.removed == Array(runs[3...].reversed()))
        #expect(result.keptEnded == 3 && result.notEnded == 0 && result.ignored == 0)
        #expect(runs[..<3].allSatisfy(exists) && !runs[3...].contains(where: exists))
    }

    @Test func removesWhatIsOlderThanTheMaximumAgeEvenAmongTheNewest() throws {
        let recent = write(endedNanos: now - 30 * second)
        let old = write(endedNanos: now - 90 * second)
        let result = try StatusRetention(keepLast: 1000, maxAgeSeconds: 60).prune(directory: directory, now: now)
        #expect(result.removed == [old])
        #expect(exists(recent) && !exists(old))
    }

    @Test func fallsBackToTheModificationTime() throws {
        let old = write(endedNanos: nil)
        let recent = write(endedNanos: nil)
        let oldDate = Date(timeIntervalSince1970: TimeInterval((now - 600 * second) / second))
        try FileManager.default.setAttributes([.modificationDate: oldDate], ofItemAtPath: "\(directory)/\(old.rawValue).json")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(now / second))],
                                              ofItemAtPath: "\(directory)/\(recent.rawValue).json")
        let result = try StatusRetention(keepLast: 1000, maxAgeSeconds: 60).prune(directory: directory, now: now)
        #expect(result.removed == [old] && result.keptEnded == 1)
    }

    @Test func neverTouchesRunningFilesTemporaryFilesOrAnythingElse() throws {
        let ended = write(endedNanos: now - 1_000_000 * second)
        let running = write(state: "running", endedNanos: nil)
        let inFlight = RunID()
        write(inFlight, endedNanos: now - 1_000_000 * second, name: inFlight.rawValue + ".json.tmp")
        let foreign = ["notes.json", "r123.json", "rzzzzzzzzzzzzzzzz.json", "x0123456789abcdef.json", RunID().rawValue, RunID().rawValue + ".JSON"]
        for name in foreign { write(endedNanos: now - 1_000_000 * second, name: name) }
        // Not valid yet: kept.
        let partial = RunID()
        _ = FileManager.default.createFile(atPath: "\(directory)/\(partial.rawValue).json", contents: Data(#"{"version":1,"st"#.utf8))
        // A symlink to an ended status elsewhere: neither it nor its target is removed.
        let outside = directory + "-outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let target = RunID()
        let targetPath = "\(outside)/\(target.rawValue).json"
        try FileManager.default.moveItem(atPath: "\(directory)/\(write(target, endedNanos: now - 1_000_000 * second).rawValue).json", toPath: targetPath)
        let link = RunID()
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/\(link.rawValue).json", withDestinationPath: targetPath)
        // A directory with a status file's name.
        let directoryNamedLikeOne = RunID()
        try FileManager.default.createDirectory(atPath: "\(directory)/\(directoryNamedLikeOne.rawValue).json", withIntermediateDirectories: false)

        let result = try StatusRetention(keepLast: 0, maxAgeSeconds: 0).prune(directory: directory, now: now)
        #expect(result.removed == [ended])
        #expect(result.notEnded == 2, "the running one and the partial one")
        #expect(result.ignored == foreign.count + 3, "the .tmp, the symlink, the directory")
        #expect(exists(running) && exists(partial) && !exists(ended))
        #expect(FileManager.default.fileExists(atPath: "\(directory)/\(inFlight.rawValue).json.tmp"))
        #expect(foreign.allSatisfy { FileManager.default.fileExists(atPath: "\(directory)/\($0)") })
        #expect(FileManager.default.fileExists(atPath: targetPath))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(link.rawValue).json")) == targetPath)
    }

    @Test func aMissingDirectoryHasNothingToPrune() throws {
        let result = try StatusRetention.standard.prune(directory: directory + "-missing", now: now)
        #expect(result == StatusRetention.PruneResult())
    }

    @Test func negativeSettingsAreRefusedWithTheirField() {
        #expect(throws: BerthError.invalid("status-keep-last", "must be 0 or more", got: "-1")) {
            try StatusRetention(keepLast: -1, maxAgeSeconds: 60)
        }
        #expect(throws: BerthError.invalid("status-max-age", "must be 0 or more seconds", got: "-5")) {
            try StatusRetention(keepLast: 1, maxAgeSeconds: -5)
        }
    }
}
