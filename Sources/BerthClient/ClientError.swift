import BerthCore

/// Why a call to the Berth API failed: the daemon could not be reached, it answered with an
/// error (`status` and the API's `body`), or its answer made no sense. `message` is one line
/// for people, naming the address or the field at fault.
public struct ClientError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure: compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable { case unreachable, api, badResponse, invalidAddress }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// No daemon at the address: no such socket, connection refused, timed out.
        public static let unreachable = Code(.unreachable)
        /// The daemon answered with an error status; `status` and `body` say which.
        public static let api = Code(.api)
        /// The daemon's answer could not be read: not the JSON expected, or cut short.
        public static let badResponse = Code(.badResponse)
        /// The socket path or `--address` is not one a client can use.
        public static let invalidAddress = Code(.invalidAddress)

        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String
    /// The HTTP status of an `.api` error.
    public let status: Int?
    /// The API's error body of an `.api` error, when it sent one.
    public let body: APIErrorBody?
    /// From `Retry-After` on a 429 or 503.
    public let retryAfterSeconds: Int?

    public init(code: Code, message: String, status: Int? = nil, body: APIErrorBody? = nil, retryAfterSeconds: Int? = nil) {
        self.code = code; self.message = message; self.status = status; self.body = body
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }

    /// An error status with its body: the body's message, and when to retry if the server said.
    static func api(status: Int, body: APIErrorBody?, raw: [UInt8], retryAfter: Int?) -> ClientError {
        var message: String
        if let body {
            message = body.message.isEmpty ? body.error : body.message
        } else {
            let text = String(decoding: raw.prefix(200), as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            message = "HTTP \(status)" + (text.isEmpty ? "" : ": " + text)
        }
        if let retryAfter { message += " (retry after \(retryAfter)s)" }
        return ClientError(code: .api, message: message, status: status, body: body, retryAfterSeconds: retryAfter)
    }
}
