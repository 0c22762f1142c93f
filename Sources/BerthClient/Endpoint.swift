#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient

/// Where the daemon listens: its Unix socket, or a TCP address.
public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
    /// HTTP over a Unix socket at this path.
    case socket(String)
    /// HTTP or HTTPS over TCP: `http://host:port` or `https://host:port`, no path.
    case url(String)

    /// Where `berth serve` makes its socket unless told otherwise.
    public static let defaultSocketPath = "/var/lib/berth/berth.sock"

    /// An endpoint from `--address`: `http://host:port`, `https://host:port`, or `host:port`
    /// (taken as http). A path, query or user part is refused.
    public static func address(_ text: String) throws -> Endpoint {
        var base = text
        if !base.contains("://") { base = "http://" + base }
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), let scheme = url.scheme, scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.path.isEmpty, url.query == nil, url.user == nil else {
            throw ClientError(code: .invalidAddress,
                              message: "--address '\(text)' is not an address: use http://HOST:PORT or https://HOST:PORT")
        }
        return .url(base)
    }

    public var description: String {
        switch self {
        case .socket(let path): path
        case .url(let base): base
        }
    }

    /// The URL AsyncHTTPClient is given for `pathAndQuery` (which starts with `/`): for a socket,
    /// `http+unix://` and the percent-encoded socket path as the host.
    func url(_ pathAndQuery: String) throws -> String {
        switch self {
        case .url(let base):
            return base + pathAndQuery
        case .socket(let path):
            guard let url = URL(httpURLWithSocketPath: path, uri: pathAndQuery) else {
                throw ClientError(code: .invalidAddress, message: "the socket path '\(path)' cannot be used in a URL")
            }
            return url.absoluteString
        }
    }

    /// What to tell someone whose daemon is not there.
    var hint: String {
        switch self {
        case .socket: "is 'berth serve' running? set --socket or BERTH_SOCKET"
        case .url: "is 'berth serve' listening there? set --address or BERTH_ADDR"
        }
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters: for one path segment or query value
/// (`.` and `..`, which a URL parser would resolve, encoded too).
func percentEncoded(_ text: String) -> String {
    if text == "." || text == ".." { return String(repeating: "%2E", count: text.count) }
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = String(byte, radix: 16, uppercase: true)
            out += "%" + (hex.count == 1 ? "0" + hex : hex)
        }
    }
    return out
}
