/// The environment a job gets: a fixed PATH, HOME=/tmp (home directories are hidden from
/// jobs), the caller's TERM and LANG, plus what the spec adds. Nothing else of the caller's
/// environment reaches the job. Shared by `berth run` and, later, the daemon.
public enum JobEnvironment {
    public static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// `requested` items are `KEY=VALUE`, or `KEY` alone to copy the caller's value. Names are
    /// letters, digits and `_`, and never `BERTH_*` (Berth's own variables).
    public static func build(requested: [String], caller: [String: String]) throws -> [String] {
        var vars: [(String, String)] = [("PATH", path), ("HOME", "/tmp")]
        for name in ["TERM", "LANG"] { if let v = caller[name] { vars.append((name, v)) } }
        for item in requested {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            guard !key.isEmpty, key.utf8.allSatisfy({ $0 == 95 || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }),
                  !key.hasPrefix("BERTH_") else {
                throw BerthError.invalid("env", "names must be letters, digits and '_', and not start with BERTH_", got: item)
            }
            guard !item.contains("\0") else { throw BerthError.invalid("env", "must not contain NUL", got: item) }
            let value = parts.count == 2 ? String(parts[1]) : (caller[key] ?? "")
            vars.removeAll { $0.0 == key }
            vars.append((key, value))
        }
        return vars.map { "\($0.0)=\($0.1)" }
    }
}
