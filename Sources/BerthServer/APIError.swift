import BerthCore
import BerthStore
import FoundationEssentials
import Hummingbird
import NIOCore

/// An error the API returns as it is: a status and a message naming what to fix.
struct APIError: Error {
    let status: HTTPResponse.Status
    let message: String
    var field: String?
    var retryAfter: Int?
    init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.field = field
        self.retryAfter = retryAfter
    }
}

/// Turns every error into one JSON body (`APIErrorBody`) with the status that fits it:
/// a spec's broken rule is 422, a taken name 409, a foreign or missing job 404, the body too
/// large 413, a fenced leader 503. Nothing else about the failure leaks.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = APIContext

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let e = Self.map(error)
            if e.status.code >= 500 { context.logger.error("\(request.method) \(request.uri.path): \(error)") }
            var body = APIErrorBody(error: e.status.reasonPhrase.lowercased(), message: e.message, field: e.field)
            if body.message.isEmpty { body.message = e.status.reasonPhrase }
            var response = try JSON.response(body, status: e.status)
            if let wait = e.retryAfter { response.headers[.retryAfter] = String(wait) }
            return response
        }
    }

    static func map(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case let e as BerthError where e.code == .invalidSpec:
            return APIError(.unprocessableContent, e.message, field: e.field)
        case let e as BerthError where e.code == .unsupported:
            return APIError(.unprocessableContent, e.message, field: e.field)
        case let e as BerthError:
            return APIError(.internalServerError, e.message)
        case let e as StoreError:
            switch e {
            case .conflict(let field, let message): return APIError(.conflict, message, field: field)
            case .versionConflict, .overQuota: return APIError(.conflict, e.description)
            case .notFound: return APIError(.notFound, e.description)
            case .fenced: return APIError(.serviceUnavailable, e.description)
            case .retryable: return APIError(.serviceUnavailable, e.description, retryAfter: 1)
            }
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, "the body is larger than the API accepts (1 MiB)")
        case let e as HTTPError:
            if e.status == .contentTooLarge { return APIError(.contentTooLarge, "the body is larger than the API accepts (1 MiB)") }
            return APIError(e.status, e.body ?? e.status.reasonPhrase)
        case is DecodingError:
            return APIError(.badRequest, "the body is not the JSON this endpoint takes")
        default:
            return APIError(.internalServerError, "internal error")
        }
    }
}

/// Any JSON value, not looked at: for reading only an object's keys.
struct AnyJSONValue: Decodable { init(from decoder: any Decoder) {} }

/// JSON in and out.
enum JSON {
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes a body strictly: a key the type does not know is an error naming it (a typo
    /// such as `memroy` must not leave a limit unset).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, keys: Set<String>, limit: Int = 64 << 10) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        let data = Data(buffer.readableBytesView)
        if let object = try? JSONDecoder().decode([String: AnyJSONValue].self, from: data) {
            if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
                throw APIError(.unprocessableContent, "\(BerthError.printable(unknown)): unknown field; known: \(keys.sorted().joined(separator: ", "))",
                               field: BerthError.printable(unknown))
            }
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw APIError(.badRequest, "the body is not valid JSON for this endpoint: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: return "malformed JSON"
        }
    }
}
