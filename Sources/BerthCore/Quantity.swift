/// An exact decimal quantity with a Kubernetes-style unit, as people write resources:
/// `500m` (milli), `2G` (10⁹), `64Mi` (2²⁰), `0.5`.
///
/// Parsing never goes through floating point, so nothing is rounded or wrapped silently:
/// the value is `mantissa × 10^pow10 × 2^pow2`.
public struct Quantity: Sendable, Equatable {
    public let mantissa: Int
    public let pow10: Int
    public let pow2: Int

    static let decimalUnits: [String: Int] = ["k": 3, "K": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18]
    static let binaryUnits: [String: Int] = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60]

    /// Parses `text` for `field`. `allowMilli` permits the `m` suffix (cpu, not memory).
    public init(parsing text: String, field: String, allowMilli: Bool) throws {
        let unitsHelp = allowMilli ? "a decimal number with an optional unit m, k, M, G or Ki, Mi, Gi"
                                   : "a decimal number with an optional unit k, M, G, T or Ki, Mi, Gi, Ti"
        guard !text.isEmpty else { throw BerthError.invalid(field, "must not be empty; use \(unitsHelp)") }
        guard text.utf8.count <= 32 else { throw BerthError.invalid(field, "is too long", got: text) }
        var digits = Substring(text)
        var suffix = ""
        while let last = digits.last, last.isLetter, last.isASCII {
            suffix = String(last) + suffix
            digits = digits.dropLast()
        }
        var p10 = 0, p2 = 0
        switch suffix {
        case "": break
        case "m" where allowMilli: p10 = -3
        default:
            if let d = Self.decimalUnits[suffix] { p10 = d }
            else if let b = Self.binaryUnits[suffix] { p2 = b }
            else { throw BerthError.invalid(field, "unknown unit '\(suffix)'; use \(unitsHelp)", got: text) }
        }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty || parts.count == 2,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              parts.contains(where: { !$0.isEmpty }) else {
            throw BerthError.invalid(field, "must be \(unitsHelp); no sign, exponent or spaces", got: text)
        }
        var m = 0
        let all = parts[0] + (parts.count == 2 ? parts[1] : "")
        for ch in all {
            let (a, o1) = m.multipliedReportingOverflow(by: 10)
            let (b, o2) = a.addingReportingOverflow(Int(ch.asciiValue ?? 48) - 48)   // digits only: checked above
            guard !o1, !o2 else { throw BerthError.invalid(field, "is too large", got: text) }
            m = b
        }
        self.mantissa = m
        self.pow10 = p10 - (parts.count == 2 ? parts[1].count : 0)
        self.pow2 = p2
    }

    /// The value × 10^`scale10` as an exact integer, or nil when it is not whole or overflows.
    public func integer(scale10: Int = 0) -> Int? {
        var value = mantissa
        var e10 = pow10 + scale10
        for _ in 0..<pow2 {
            let (v, o) = value.multipliedReportingOverflow(by: 2)
            if o { return nil }
            value = v
        }
        while e10 > 0 {
            let (v, o) = value.multipliedReportingOverflow(by: 10)
            if o { return nil }
            value = v
            e10 -= 1
        }
        while e10 < 0 {
            guard value % 10 == 0 else { return nil }
            value /= 10
            e10 += 1
        }
        return value
    }

    /// The value × 10^`scale10` as an exact integer, or an error naming `field` that says
    /// whether it was too large or finer than one `unitName`.
    public func exactInteger(scale10: Int = 0, field: String, unitName: String, text: String) throws -> Int {
        if let v = integer(scale10: scale10) { return v }
        var approx = Double(mantissa)
        for _ in 0..<pow2 { approx *= 2 }
        var e = pow10 + scale10
        while e > 0 { approx *= 10; e -= 1 }
        while e < 0 { approx /= 10; e += 1 }
        if approx >= 9.0e18 { throw BerthError.invalid(field, "is too large", got: text) }
        throw BerthError.invalid(field, "must be a whole number of \(unitName)", got: text)
    }

    /// True when the quantity is exactly zero.
    public var isZero: Bool { mantissa == 0 }
}
