#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import BerthCore

/// How long the status files of ended runs, `<runtime>/runs/<run-id>.json`, are kept: the
/// newest `keepLast`, and none older than `maxAgeSeconds`. A value the caller configures and
/// applies with `prune(directory:now:)` (today `berth run` after a run ends; the daemon later).
///
/// Only files named `r<16 hex>.json` that are regular files (never followed through a
/// symlink) and decode as an `ended` `ShimStatus` are ever removed: a `running` one, a
/// `.tmp` the shim is writing, or anything else is left alone.
public struct StatusRetention: Sendable, Equatable {
    /// How many ended status files to keep, newest first (by their `ended_ns`).
    public let keepLast: Int
    /// Ended status files older than this are removed even among the newest `keepLast`.
    public let maxAgeSeconds: Int

    /// Keep the last 1000, and nothing older than 7 days.
    public static let standard = StatusRetention(checkedKeepLast: 1000, maxAgeSeconds: 7 * 24 * 3600)

    /// Refuses negative values, naming the field.
    public init(keepLast: Int, maxAgeSeconds: Int) throws {
        guard keepLast >= 0 else { throw BerthError.invalid("status-keep-last", "must be 0 or more", got: String(keepLast)) }
        guard maxAgeSeconds >= 0 else { throw BerthError.invalid("status-max-age", "must be 0 or more seconds", got: String(maxAgeSeconds)) }
        self.init(checkedKeepLast: keepLast, maxAgeSeconds: maxAgeSeconds)
    }

    private init(checkedKeepLast keepLast: Int, maxAgeSeconds: Int) {
        self.keepLast = keepLast
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// What one `prune` did.
    public struct PruneResult: Sendable, Equatable {
        /// The runs whose status files were removed, oldest first.
        public var removed: [RunID] = []
        /// Ended status files kept.
        public var keptEnded = 0
        /// Status files of runs that have not ended (or are not valid yet), left alone.
        public var notEnded = 0
        /// Other entries of the directory (not `r<16 hex>.json`, not a regular file), left alone.
        public var ignored = 0

        public init() {}
    }

    /// The current time as `now` expects it: nanoseconds since the epoch (CLOCK_REALTIME,
    /// the shim's clock for `ended_ns`).
    public static func currentNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Removes the ended status files in `directory` beyond the newest `keepLast` or older
    /// than `maxAgeSeconds` at `now` (nanoseconds since the epoch). Files are ranked by their
    /// mtime, which the shim sets when it writes the ended status (write + rename), so only
    /// the files that may go are opened and decoded: pruning a directory within its limits
    /// costs a listing and a stat per file. A file is removed only once it decodes as `ended`;
    /// its age is its `ended_ns`, or its mtime when that is missing. Files are opened with
    /// O_NOFOLLOW and removed with unlinkat on the directory's fd. A missing directory holds
    /// nothing to prune.
    public func prune(directory: String, now: Int64 = StatusRetention.currentNanos()) throws -> PruneResult {
        var result = PruneResult()
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if dirFD < 0 && errno == ENOENT { return result }
        guard dirFD >= 0 else { throw BerthError(.system, "open \(directory): \(Sys.errnoText(errno))") }
        defer { close(dirFD) }

        var files: [(run: RunID, name: String, mtime: Int64)] = []
        for name in try Self.names(in: dirFD, directory: directory) {
            var st = stat()
            guard name.hasSuffix(".json"), let run = RunID(String(name.dropLast(5))),
                  fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                result.ignored += 1
                continue
            }
            files.append((run, name, Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)))
        }
        // Newest first; the name breaks ties so that the same files always win.
        files.sort { ($0.mtime, $0.name) > ($1.mtime, $1.name) }
        let (maxAgeNanos, ageOverflows) = Int64(clamping: maxAgeSeconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (oldestKept, nowOverflows) = now.subtractingReportingOverflow(maxAgeNanos)
        func tooOld(_ nanos: Int64) -> Bool { !ageOverflows && !nowOverflows && nanos < oldestKept }
        var ended = 0
        for file in files {
            // Within the newest keepLast ended ones, and not old: kept without reading it.
            if ended < keepLast && !tooOld(file.mtime) {
                ended += 1
                result.keptEnded += 1
                continue
            }
            guard let (decoded, mtime) = try Self.status(of: file.name, in: dirFD, directory: directory) else {
                result.ignored += 1
                continue
            }
            guard let status = decoded, status.state == .ended else {
                result.notEnded += 1
                continue
            }
            let endedNanos = status.endedNanos.flatMap { $0 > 0 ? $0 : nil } ?? mtime
            if ended < keepLast && !tooOld(endedNanos) {
                ended += 1
                result.keptEnded += 1
                continue
            }
            if unlinkat(dirFD, file.name, 0) != 0 {
                let e = errno
                if e != ENOENT { throw BerthError(.system, "remove \(directory)/\(file.name): \(Sys.errnoText(e))") }
            }
            result.removed.insert(file.run, at: 0)
        }
        return result
    }

    /// The names in the directory (without "." and "..").
    static func names(in dirFD: Int32, directory: String) throws -> [String] {
        try Sys.entries(of: dirFD, shown: directory).map { String(decoding: $0.name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    /// A status file's content (nil when it does not decode: not valid yet, or not one) and
    /// its mtime in nanoseconds; nil when it is not a regular file. Never follows a symlink.
    static func status(of name: String, in dirFD: Int32, directory: String) throws -> (ShimStatus?, Int64)? {
        // Checked before opening too: opening a device or a FIFO is not harmless.
        var before = stat()
        guard fstatat(dirFD, name, &before, AT_SYMLINK_NOFOLLOW) == 0, (before.st_mode & S_IFMT) == S_IFREG else { return nil }
        let fd = openat(dirFD, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ELOOP || e == ENOENT || e == ENXIO { return nil }   // a symlink, gone, or a socket
            throw BerthError(.system, "open \(directory)/\(name): \(Sys.errnoText(e))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BerthError(.system, "stat \(directory)/\(name): \(Sys.errnoText(errno))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        // A status file is a few KiB; anything far bigger is not one of the shim's.
        let limit = 1 << 20
        guard st.st_size <= limit else { return (nil, mtime) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var total = 0
        while total < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return read(fd, base + total, raw.count - total)
            }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw BerthError(.system, "read \(directory)/\(name): \(Sys.errnoText(errno))") }
            if n == 0 { break }
            total += n
        }
        return (try? JSONDecoder().decode(ShimStatus.self, from: Data(bytes[0..<total])), mtime)
    }
}
