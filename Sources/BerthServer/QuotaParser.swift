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

