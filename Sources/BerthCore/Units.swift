/// Numbers as people read them, shared by the CLI's tables and the scheduler's reasons.
public enum Units {
    /// CPU from micro-cores: cores with up to 2 decimals (`4`, `1.5`, `0.25`); below 0.01
    /// core, milli-cores (`5m`), so a small use never shows as 0.
    public static func cores(microcores: Int) -> String {
        if microcores > 0 && microcores < 5_000 { return "\(max(microcores / 1_000, 1))m" }
        return decimal(microcores, unit: 1_000_000, places: 2)
    }

    /// Bytes in binary units, up to 1 decimal: `512`, `64Ki`, `768Mi`, `1.5Gi`, `8Gi`.
    public static func bytes(_ value: Int) -> String {
        scaled(value, base: 1024, units: ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
    }

    /// Bits per second in decimal units, up to 1 decimal: `100Mbit`, `1.5Gbit`.
    public static func bits(_ value: Int) -> String {
        scaled(value, base: 1000, units: ["bit", "Kbit", "Mbit", "Gbit", "Tbit", "Pbit", "Ebit"])
    }

    static func scaled(_ value: Int, base: Int, units: [String]) -> String {
        guard value > 0 else { return String(value) }
        var unit = 1, index = 0
        while index + 1 < units.count, value / unit >= base { unit *= base; index += 1 }
        return decimal(value, unit: unit, places: index == 0 ? 0 : 1) + units[index]
    }

    /// `value / unit` rounded half up to `places` decimals, trailing zeros dropped.
    static func decimal(_ value: Int, unit: Int, places: Int) -> String {
        var scale = 1
        for _ in 0..<places { scale *= 10 }
        let negative = value < 0
        let magnitude = value.magnitude
        let step = UInt(unit)
        // Rounded in the scaled unit without overflow: whole part and remainder apart.
        var whole = magnitude / step
        var fraction = ((magnitude % step) * UInt(scale) + step / 2) / step
        if fraction >= UInt(scale) { whole += 1; fraction -= UInt(scale) }
        var text = String(whole)
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: max(0, places - digits.count)) + digits
            while digits.last == "0" { digits.removeLast() }
            text += "." + digits
        }
        return negative ? "-" + text : text
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
