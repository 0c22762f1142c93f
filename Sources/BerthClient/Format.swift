#if canImport(Glibc)
import Glibc
#endif

/// How the CLI shows the API's values to people: escaped strings, aligned tables, resources in
/// human units, times and ages. Pure functions (but `localUTCOffset`), so they are unit-tested.
public enum Format {
    // MARK: Strings from the server

    /// `text` with every control character escaped (C0, DEL and C1, as `\n`, `\t`, `\r` or
    /// `\u{1b}` like `BerthError`'s), and the Unicode bidirectional controls too: a hostile
    /// job name or reason cannot move the cursor, retitle or recolour the terminal, or reorder
    /// what follows it.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else { out.unicodeScalars.append(scalar); continue }
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default: out += "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return out
    }

    static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x1F, 0x7F...0x9F: return true                 // C0, DEL, C1 (CSI is 0x9B)
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true   // bidi controls
        default: return false
        }
    }

    static func pad(_ text: String, _ width: Int, with fill: Character = "0") -> String {
        text.count >= width ? text : String(repeating: fill, count: width - text.count) + text
    }

    /// `text` cut to at most `width` characters, ending in `…` when it was cut.
    public static func truncated(_ text: String, to width: Int) -> String {
        guard text.count > width else { return text }
        guard width > 1 else { return String(text.prefix(max(width, 0))) }
        return String(text.prefix(width - 1)) + "…"
    }

    // MARK: Tables

    /// An aligned table: columns separated by two spaces, the last one not padded, every cell
    /// escaped. When `width` is given and a line would be longer, the `flexible` column (the
    /// reason, say) is truncated to fit, down to 10 characters.
    public static func table(_ header: [String], _ rows: [[String]], width: Int? = nil, flexible: Int? = nil) -> String {
        let columns = header.count
        var cells = ([header] + rows).map { row in (0..<columns).map { $0 < row.count ? escaped(row[$0]) : "" } }
        var widths = (0..<columns).map { c in cells.map { $0[c].count }.max() ?? 0 }
        if let width, let flexible, flexible < columns {
            let others = widths.enumerated().filter { $0.offset != flexible }.map(\.element).reduce(0, +)
            let room = width - others - 2 * (columns - 1)
            if widths[flexible] > room {
                let limit = max(room, 10)
                for r in cells.indices { cells[r][flexible] = truncated(cells[r][flexible], to: limit) }
                widths[flexible] = min(widths[flexible], limit)
            }
        }
        var out = ""
        for row in cells {
            var line = ""
            for c in 0..<columns {
                let cell = row[c]
                if c == columns - 1 { line += cell } else { line += cell + String(repeating: " ", count: widths[c] - cell.count + 2) }
            }
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
        return out
    }

    // MARK: Resources

    /// `used/limit`, the limit `none` when there is none.
    public static func usage(_ used: String, _ limit: String?) -> String { used + "/" + (limit ?? "none") }

    // MARK: Runs

    /// How a run ended: `exited 0`, `signaled 9`, `oom_killed`; empty while it has not.
    public static func ending(_ exit: String?, code: Int?) -> String {
        guard let exit else { return code.map(String.init) ?? "" }
        guard let code else { return exit }
        return exit == "exited" || exit == "signaled" ? "\(exit) \(code)" : "\(exit) (\(code))"
    }

    // MARK: Times

    /// How long ago `millis` was, in the largest unit that keeps two digits: `42s`, `17m`, `5h`, `3d`.
    public static func age(since millis: Int64, now: Int64) -> String {
        let s = max(now - millis, 0) / 1000
        switch s {
        case ..<120: return "\(s)s"
        case ..<7_200: return "\(s / 60)m"
        case ..<172_800: return "\(s / 3_600)h"
        default: return "\(s / 86_400)d"
        }
    }

    /// `HH:MM:SS` of `millis` at `utcOffset` seconds east of UTC.
    public static func clock(_ millis: Int64, utcOffset: Int) -> String {
        let (_, time) = civil(millis, utcOffset: utcOffset)
        return time
    }

    /// `YYYY-MM-DD HH:MM:SS` of `millis` at `utcOffset` seconds east of UTC.
    public static func dateTime(_ millis: Int64, utcOffset: Int) -> String {
        let (date, time) = civil(millis, utcOffset: utcOffset)
        return date + " " + time
    }

    static func civil(_ millis: Int64, utcOffset: Int) -> (date: String, time: String) {
        let seconds = Int(millis.dividedReportingOverflow(by: 1000).partialValue) + utcOffset
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = seconds - days * 86_400
        // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant, "chrono-compatible low-level date algorithms").
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let date = "\(pad(String(year), 4))-\(pad(String(month), 2))-\(pad(String(day), 2))"
        let time = "\(pad(String(inDay / 3_600), 2)):\(pad(String(inDay % 3_600 / 60), 2)):\(pad(String(inDay % 60), 2))"
        return (date, time)
    }

    /// The local time zone's offset from UTC at `millis`, in seconds east (`localtime_r`'s `tm_gmtoff`).
    public static func localUTCOffset(at millis: Int64) -> Int {
        var t = time_t(millis / 1000)
        var parts = tm()
        guard localtime_r(&t, &parts) != nil else { return 0 }
        return Int(parts.tm_gmtoff)
    }
}
