/// Parses a duration as people write it: `90s`, `500ms`, `2m`, `1h`, `1.5s`; a bare number is seconds.
/// Returns milliseconds. Errors name the field and the allowed range.
public func parseDuration(_ text: String, field: String, maximumMillis: Int = 366 * 86_400_000) throws -> Int {
    let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
    var number = Substring(text)
    var scale = 1000
    for (suffix, ms) in units where text.hasSuffix(suffix) {
        number = text.dropLast(suffix.count)
        scale = ms
        break
    }
    let parts = number.split(separator: ".", omittingEmptySubsequences: false)
    guard !number.isEmpty, parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
          number.count <= 12 else {
        throw BerthError.invalid(field, "must be a duration such as 30s, 500ms, 5m or 1h", got: text)
    }
    let whole = (Int(parts[0]) ?? 0) * scale          // digits only: checked above
    var frac = 0
    if parts.count == 2 {
        let digits = parts[1].prefix(6)
        var divisor = 1
        for _ in 0..<digits.count { divisor *= 10 }
        frac = (Int(digits) ?? 0) * scale / divisor
    }
    let millis = whole + frac
    guard millis >= 1 else { throw BerthError.invalid(field, "must be at least 1ms", got: text) }
    guard millis <= maximumMillis else { throw BerthError.invalid(field, "must be at most \(maximumMillis / 86_400_000) days", got: text) }
    return millis
}
