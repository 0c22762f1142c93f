#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BerthCore
import BerthIsolation

@main
struct Berth: ParsableCommand {
    // The names are given, not derived: deriving one costs String(describing:) on the type,
    // whose first protocol-conformance scans are a measurable part of the CLI's start.
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Run jobs in their own cgroups, with limits on CPU, memory, I/O and pids.",
        subcommands: [Run.self, Doctor.self])

    /// Exit codes follow `docker run`: 125 when Berth itself fails or the arguments are bad.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as BerthError {
            fail(error.message)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }          // --help, --version
            if let e = error as? ExitCode { Glibc.exit(e.rawValue) }
            fail(message(for: error).split(separator: "\n").first.map(String.init) ?? "bad arguments")
        }
    }

    static func fail(_ message: String) -> Never {
        printError("berth: \(message)")
        Glibc.exit(125)
    }
}

/// Writes one line to standard error (Glibc's `stderr` is not concurrency-safe to reference).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}
