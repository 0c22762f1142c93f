import BerthCore

/// Reads a `QuotaRequest` (values in the units people write) into a `Quota`.
enum QuotaParser {
    /// `quota` with the request's values applied: a missing key keeps the limit, `none` removes it.
    static func apply(_ r: QuotaRequest, to quota: Quota) throws -> Quota {
        var q = quota
        if let t = r.cpu { q.cpuMicrocores = try value(t) { text in
            var req = ResourceRequest(); req.cpu = text
            return try Resources(parsing: req).cpuMicrocores ?? 0
        } }
        if let t = r.memory { q.memoryBytes = try value(t) { try Resources.bytes($0, field: "memory", minimum: 4096, minimumText: "4Ki", maximum: 1 << 50, maximumText: "1Pi") } }
        if let t = r.io { q.ioBytesPerSecond = try value(t) { try Resources.bytes($0, field: "io", minimum: 4096, minimumText: "4Ki per second", maximum: 1 << 50, maximumText: "1Pi per second") } }
        if let t = r.network { q.networkBitsPerSecond = try value(t) { try parseBitRate($0, field: "network") } }
        if let t = r.pids { q.pids = try value(t) { try Resources.integer($0, field: "pids", range: 1...Resources.pidsMax * 64) } }
        if let t = r.jobs { q.jobs = try value(t) { try Resources.integer($0, field: "jobs", range: 0...1_000_000) } }
        return q
    }

    static func value(_ text: String, _ parse: (String) throws -> Int) throws -> Int? {
        text == "none" ? nil : try parse(text)
    }
}

/// A rate in bits per second as tc writes it: `10Mbit`, `1Gbit`, `500kbit`, `2000bit`.
public func parseBitRate(_ text: String, field: String) throws -> Int {
    let units: [(String, Int)] = [("Gbit", 1_000_000_000), ("Mbit", 1_000_000), ("kbit", 1_000), ("Kbit", 1_000), ("bit", 1)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        let digits = text.dropLast(suffix.count)
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits), n > 0 else { break }
        let (bits, overflow) = n.multipliedReportingOverflow(by: scale)
        guard !overflow, bits <= 1_000_000_000_000 else { throw BerthError.invalid(field, "must be at most 1000Gbit", got: text) }
        return bits
    }
    throw BerthError.invalid(field, "must be a rate such as 100Mbit, 1Gbit or 500kbit", got: text)
}
