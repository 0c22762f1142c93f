#if canImport(Glibc)
import Glibc
#endif
import BerthClient
import FoundationEssentials

/// Standard output for the client commands: unbuffered writes (so `--wait` lines and followed
/// logs show as they come, even through a pipe), tables sized to the terminal, and JSON.
enum Output {
    /// Writes `text` to standard output.
    static func write(_ text: String) {
        write(bytes: Array(text.utf8))
    }

    /// Writes `bytes` to standard output, all of them. When the reader has gone (`berth logs
    /// job | head`), Berth exits quietly: there is no one left to tell.
    static func write(bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { exit(0) }
                printError("berth: cannot write to standard output: \(String(cString: strerror(errno)))")
                exit(1)
            }
            offset += n
        }
    }

    /// Writes one line, its server-given parts already escaped by the caller.
    static func line(_ text: String) { write(text + "\n") }

    /// An aligned table (`Format.table`: every cell escaped), the `flexible` column truncated
    /// to fit the terminal when standard output is one.
    static func table(_ header: [String], _ rows: [[String]], flexible: Int? = nil) {
        write(Format.table(header, rows, width: terminalWidth, flexible: flexible))
    }

    /// `Name:  value` lines, the values aligned (and escaped).
    static func fields(_ pairs: [(String, String)]) {
        guard let first = pairs.first else { return }
        write(Format.table([first.0 + ":", first.1], pairs.dropFirst().map { [$0.0 + ":", $0.1] }))
    }

    /// `value` as pretty-printed JSON with sorted keys: the API's JSON, for scripts.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        write(bytes: Array(try encoder.encode(value)) + [0x0A])
    }

    /// The terminal's width when standard output is a terminal, else nil (no truncation).
    static var terminalWidth: Int? {
        guard isatty(1) == 1 else { return nil }
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } ?? 80
    }

    /// Milliseconds since the epoch, now.
    static var now: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// `YYYY-MM-DD HH:MM:SS` in local time, or `-` for none.
    static func dateTime(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        return Format.dateTime(millis, utcOffset: Format.localUTCOffset(at: millis))
    }

    /// `HH:MM:SS` in local time.
    static func clock(_ millis: Int64) -> String {
        Format.clock(millis, utcOffset: Format.localUTCOffset(at: millis))
    }
}
