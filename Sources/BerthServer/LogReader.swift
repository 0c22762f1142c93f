#if canImport(Glibc)
import Glibc
#endif
import Hummingbird

/// Reads a run's log file for `berth logs`: the last lines, then, when following, what the
/// shim appends, across rotations (when `stdout.log` is renamed to `stdout.log.1` and a new
/// one begins, the rest of the old file is read first, then the new one from its start).
struct LogReader: Sendable {
    let path: String
    let tail: Int?
    static let chunk = 64 << 10

    func stream(follow: Bool, into writer: inout any ResponseBodyWriter, ended: @Sendable () async -> Bool) async throws {
        var fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        defer { if fd >= 0 { close(fd) } }
        if fd >= 0, let tail { skipToTail(fd, lines: tail) }
        var buffer = [UInt8](repeating: 0, count: Self.chunk)
        var idle = 0
        while true {
            if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
            var gotData = false
            if fd >= 0 {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    try await writer.write(ByteBuffer(bytes: buffer[0..<n]))
                    gotData = true
                    idle = 0
                    continue
                }
                // At the end of this file: if the path now names another file, it was rotated.
                if rotated(fd) {
                    close(fd)
                    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                    continue
                }
            }
            if !follow { return }
            if !gotData {
                idle += 1
                // The run's end is checked only when nothing is left to read, so nothing is cut off.
                if idle % 5 == 0, await ended() {
                    if fd >= 0 && rotated(fd) { continue }
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The open file is no longer the one at `path`.
    func rotated(_ fd: Int32) -> Bool {
        var open = stat(), named = stat()
        guard fstat(fd, &open) == 0 else { return false }
        guard stat(path, &named) == 0 else { return false }
        return open.st_ino != named.st_ino || open.st_dev != named.st_dev
    }

    /// Moves `fd` to the start of the last `lines` lines (reads at most the last 4 MiB).
    func skipToTail(_ fd: Int32, lines: Int) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return }
        let size = Int(st.st_size)
        let window = min(size, 4 << 20)
        var bytes = [UInt8](repeating: 0, count: window)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, window, off_t(size - window)) }
        guard n > 0 else { return }
        var count = 0
        var start = n
        var i = n - 1
        if bytes[i] == 10 { i -= 1 }
        while i >= 0 {
            if bytes[i] == 10 {
                count += 1
                if count == lines { start = i + 1; break }
            }
            i -= 1
        }
        if count < lines { start = 0 }
        if lines == 0 { start = n }
        lseek(fd, off_t(size - window + start), SEEK_SET)
    }
}
