#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// Thin, throwing wrappers over the file syscalls the drivers use. Each error names the
/// operation, the path, the value and the errno, as a person debugging a host needs.
public enum Sys {
    /// Runs `body` until it stops failing with EINTR; throws with `what` on any other failure.
    @discardableResult
    public static func retrying<T: BinaryInteger>(_ code: BerthError.Code, _ what: @autoclosure () -> String, _ body: () -> T) throws -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = errno
            if e == EINTR { continue }
            throw BerthError(code, "\(what()): \(errnoText(e))", errno: e)
        }
    }

    public static func errnoText(_ e: Int32) -> String {
        String(cString: strerror(e)) + " (errno \(e))"
    }

    /// Writes `value` to `path`, as `echo value > path` would.
    public static func write(_ path: String, _ value: String, code: BerthError.Code = .cgroup) throws {
        let fd = try retrying(code, "open \(path)") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        try retrying(code, "write '\(value)' to \(path)") { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }

    /// Reads a small file whole (up to `limit` bytes), or nil when it cannot be opened.
    /// Cgroup files are short: it starts with one page and grows only when needed.
    static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < limit {
            if total == buffer.count { buffer.append(contentsOf: repeatElement(0, count: min(buffer.count, limit - total))) }
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.read(fd, base + total, raw.count - total)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            total += n
        }
        return String(decoding: buffer[0..<total], as: UTF8.self)
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// A close-on-exec duplicate of `fd` numbered `lowest` or above; the caller closes it
    /// (and still owns `fd`).
    static func fdAtLeast(_ fd: Int32, _ lowest: Int32) throws -> Int32 {
        try retrying(.system, "duplicate fd \(fd)") { fcntl(fd, F_DUPFD_CLOEXEC, lowest) }
    }

    /// mkdir that reports whether it created the directory (false: it was already there).
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws -> Bool {
        if mkdir(path, mode) == 0 { return true }
        let e = errno
        if e == EEXIST { return false }
        throw BerthError(.cgroup, "mkdir \(path): \(errnoText(e))", errno: e)
    }

    /// The entries of the open directory `dirFD` (without "." and ".."): each name as bytes
    /// with its NUL (a job may make names that are not UTF-8) and its `d_type`. Read through
    /// an fd of its own (`openat(dirFD, ".")`, never leaving it), so `dirFD` keeps no position.
    static func entries(of dirFD: Int32, shown: @autoclosure () -> String) throws -> [(name: [CChar], type: UInt8)] {
        let fd = openat(dirFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BerthError(.system, "list \(shown()): \(errnoText(errno))", errno: errno) }
        guard let stream = fdopendir(fd) else {
            let e = errno
            close(fd)
            throw BerthError(.system, "list \(shown()): \(errnoText(e))", errno: e)
        }
        defer { closedir(stream) }
        var entries: [(name: [CChar], type: UInt8)] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                let e = errno
                if e != 0 { throw BerthError(.system, "list \(shown()): \(errnoText(e))", errno: e) }
                return entries
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) } + [0] }
            if name == [46, 0] || name == [46, 46, 0] { continue }   // "." and ".."
            entries.append((name, entry.pointee.d_type))
        }
    }
}
