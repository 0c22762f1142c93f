import Foundation

/// A cgroupfs in a temporary directory, seeded with the files a real one would have.
/// Asserting what a driver wrote is reading the files back.
final class FakeCgroupFS {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "berth-fakecg-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func seed(_ path: String, _ content: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try content.write(toFile: full, atomically: false, encoding: .utf8)
    }

    func read(_ path: String) -> String? {
        try? String(contentsOfFile: root + "/" + path, encoding: .utf8)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root + "/" + path) }
}
