/// Parsers for the shapes of cgroup stat files, shared by both drivers and the sampler.
public enum StatParsers {
    /// Flat-keyed: `key value` per line (`cpu.stat`, `memory.events`, `pids.events`, v1 `memory.oom_control`).
    public static func flat(_ text: String) -> [String: Int] {
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, let value = Int(parts[1]) else { continue }
            result[String(parts[0])] = value
        }
        return result
    }

    /// A file holding one number (`memory.current`, `pids.current`); `max` reads as nil.
    public static func single(_ text: String) -> Int? {
        Int(text.trimmingWhitespace())
    }

    /// Nested-keyed: `254:0 rbytes=1 wbytes=2 …` per line (v2 `io.stat`). Device → key → value.
    public static func nested(_ text: String) -> [String: [String: Int]] {
        var result: [String: [String: Int]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let device = parts.first else { continue }
            var fields: [String: Int] = [:]
            for pair in parts.dropFirst() {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, let v = Int(kv[1]) { fields[String(kv[0])] = v }
            }
            result[String(device)] = fields
        }
        return result
    }

    /// v1 blkio counters: `254:0 Read 123` lines and a `Total` line. Returns device → op → value.
    public static func blkio(_ text: String) -> [String: [String: Int]] {
        var result: [String: [String: Int]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 3, let value = Int(parts[2]) else { continue }
            result[String(parts[0]), default: [:]][String(parts[1])] = value
        }
        return result
    }

    /// PSI: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and an optional `full` line.
    public static func pressure(_ text: String) -> Pressure? {
        var some: PressureLine?
        var full: PressureLine?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let kind = parts.first else { continue }
            var values: [String: Substring] = [:]
            for pair in parts.dropFirst() {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { values[String(kv[0])] = kv[1] }
            }
            guard let a10 = values["avg10"].flatMap({ Double($0) }), let a60 = values["avg60"].flatMap({ Double($0) }),
                  let a300 = values["avg300"].flatMap({ Double($0) }), let total = values["total"].flatMap({ Int($0) }) else { continue }
            let parsed = PressureLine(avg10: a10, avg60: a60, avg300: a300, totalMicros: total)
            if kind == "some" { some = parsed } else if kind == "full" { full = parsed }
        }
        return some.map { Pressure(some: $0, full: full) }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
