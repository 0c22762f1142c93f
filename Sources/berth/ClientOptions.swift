#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BerthClient
import FoundationEssentials

/// The options every command that talks to the daemon takes: where it is, who we are, and
/// whether to print JSON.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's Unix socket (env BERTH_SOCKET; default \(Endpoint.defaultSocketPath)).", valueName: "path"),
            completion: .file())
    var socket: String?

    @Option(help: ArgumentHelp("Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).", valueName: "url"))
    var address: String?

    @Option(help: ArgumentHelp("""
        The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).
        """, valueName: "token"))
    var token: String?

    @Flag(help: "Print the API's JSON, for scripts.")
    var json = false

    func validate() throws {
        if socket != nil && address != nil { throw ValidationError("give --socket or --address, not both") }
    }

    /// Where the daemon is: `--address`, BERTH_ADDR, then `--socket`, BERTH_SOCKET, the default socket.
    /// `--socket` given on the command line wins over BERTH_ADDR.
    func endpoint() throws -> Endpoint {
        let environment = ProcessInfo.processInfo.environment
        if let address { return try Endpoint.address(address) }
        if socket == nil, let address = environment["BERTH_ADDR"], !address.isEmpty { return try Endpoint.address(address) }
        return .socket(socket ?? environment["BERTH_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? Endpoint.defaultSocketPath)
    }

    /// The token: `--token`, BERTH_TOKEN, or, on a socket, `operator.token` in the socket's
    /// directory when this user can read it (the root operator's convenience). Never sent over
    /// TCP from that file: a remote address must not receive the local operator's token unasked.
    func resolvedToken(for endpoint: Endpoint) -> String? {
        if let token { return token }
        if let token = ProcessInfo.processInfo.environment["BERTH_TOKEN"], !token.isEmpty { return token }
        guard case .socket(let path) = endpoint else { return nil }
        let file = (path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ".") + "/operator.token"
        guard access(file, R_OK) == 0, let bytes = try? readFile(file, limit: 4096) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init)
    }

    /// Runs `body` with a client of the daemon, and shuts the client down after, however it ends.
    func withClient<T>(_ body: (APIClient) async throws -> T) async throws -> T {
        let endpoint = try endpoint()
        let client = APIClient(endpoint: endpoint, token: resolvedToken(for: endpoint))
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

/// A command that talks to the daemon: its failures exit 1 (usage errors 2), not `berth run`'s 125.
protocol ClientCommand: AsyncParsableCommand {}

/// A failure of the CLI itself (a file it cannot read), printed as `berth: MESSAGE`.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Reads a whole file (`-`: standard input), at most `limit` bytes.
func readFile(_ path: String, limit: Int) throws -> [UInt8] {
    let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw CommandFailure(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { if fd != 0 { close(fd) } }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw CommandFailure(message: "cannot read \(path == "-" ? "standard input" : path): \(String(cString: strerror(errno)))")
        }
        if n == 0 { return bytes }
        bytes += chunk[0..<n]
        guard bytes.count <= limit else {
            throw CommandFailure(message: "\(path == "-" ? "standard input" : path) is larger than \(limit / 1024) KiB")
        }
    }
}
