import Foundation
import Testing

/// What the integration tests need from the host, and where the built binaries are.
enum Host {
    static let isRoot = getuid() == 0
    /// `.ci/run` sets BERTH_NO_SKIP=1: every test then runs, so a missing prerequisite fails
    /// instead of skipping.
    static let noSkip = ProcessInfo.processInfo.environment["BERTH_NO_SKIP"] == "1"
    static var rootTests: Bool { isRoot || noSkip }

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `$BERTH_BIN_DIR`, else the directory of the test runner (where SwiftPM puts products).
    static let binDir: String = {
        if let dir = ProcessInfo.processInfo.environment["BERTH_BIN_DIR"] { return dir }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [runner.path, runner.deletingLastPathComponent().path, packageRoot + "/.build/debug"]
        where FileManager.default.isExecutableFile(atPath: candidate + "/berth") {
            return candidate
        }
        return packageRoot + "/.build/debug"
    }()

    /// A scratch directory on a real disk (I/O limits need a block device; /tmp may be tmpfs).
    static func scratch() throws -> String {
        let dir = "/var/tmp/berth-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A directory jobs can see (read-only): the host's /tmp, /var/tmp and home directories are
    /// hidden from them, and this clone may live in one.
    static func visibleScratch() throws -> String {
        let dir = "/opt/berth-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return dir
    }

    /// Copies `berth-checks` (whose workloads tests run as jobs) where jobs can see it.
    static func stagedChecks() throws -> (dir: String, checks: String) {
        let dir = try visibleScratch()
        try FileManager.default.copyItem(atPath: binDir + "/berth-checks", toPath: dir + "/berth-checks")
        return (dir, dir + "/berth-checks")
    }

    /// Directories of ours left in any cgroup hierarchy (named berth, or holding tenants).
    static func leftoverCgroups() -> [String] {
        let out = try? Command.run(["/usr/bin/find", "/sys/fs/cgroup", "-mindepth", "2", "-maxdepth", "7", "-type", "d",
                                    "(", "-name", "berth", "-o", "-name", "berth-ci", "-o", "-name", "tenants", ")"])
        return (out?.stdout ?? "").split(separator: "\n").map(String.init)
    }
}

/// A finished process: status and both outputs.
struct Command {
    var status: Int32
    var stdout: String
    var stderr: String

    @discardableResult
    static func run(_ argv: [String], environment: [String: String]? = nil, timeout: TimeInterval = 900) throws -> Command {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        // Jobs start in the caller's directory; "/" is one every sandbox shows.
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        try p.run()
        // Read both pipes while the process runs, or a full pipe would block it.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while reader.isExecuting || !reader.isFinished { usleep(1_000) }
        return Command(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
    }
}
