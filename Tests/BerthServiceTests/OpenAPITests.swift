import BerthServer
import Foundation
import Testing
import Yams

/// The OpenAPI document and the router agree: the router is built from `API.endpoints`, and
/// every endpoint is in the document with its method, and nothing else is.
@Suite struct OpenAPITests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    @Test func theServedDocumentIsTheCheckedInOne() throws {
        let file = try String(contentsOfFile: Self.root + "/docs/openapi.yaml", encoding: .utf8)
        #expect(file == OpenAPIDocument.text)
    }

    @Test func routesAndDocumentAgree() throws {
        let doc = try #require(try Yams.load(yaml: OpenAPIDocument.text) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: Any])
        var documented = Set<String>()
        for (path, item) in paths {
            for key in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "delete", "patch"].contains(key) {
                documented.insert("\(key.uppercased()) \(path)")
            }
        }
        let routed = Set(API.endpoints.map { "\($0.method) \($0.path)" })
        #expect(routed.subtracting(documented).isEmpty, "routes missing from the document: \(routed.subtracting(documented).sorted())")
        #expect(documented.subtracting(routed).isEmpty, "documented but not routed: \(documented.subtracting(routed).sorted())")
    }
}
