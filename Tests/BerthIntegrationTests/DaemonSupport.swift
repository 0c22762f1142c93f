import BerthCore
import Foundation
import Testing

/// A real `berth serve` for end-to-end tests, with its own state directory, driven through the
/// real CLI and over HTTP with curl.
final class TestDaemon: @unchecked Sendable {
    let stateDir: String
    var process: Process?
    let extraArgs: [String]
    var socket: String { stateDir + "/berth.sock" }
    var operatorToken: String { (try? String(contentsOfFile: stateDir + "/operator.token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
    var tenantIDs: [String] = []

    init(_ extraArgs: [String] = []) throws {
        // Short: the socket path must fit in 107 bytes. Not under /tmp, /root or /home.
        stateDir = "/var/lib/berth-e2e-\(UUID().uuidString.prefix(8).lowercased())"
        self.extraArgs = extraArgs
        try start()
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Host.binDir + "/berth")
        p.arguments = ["serve", "--state-dir", stateDir, "--rate-limit", "0", "--tenant-grace", "1ms"] + extraArgs
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        let log = FileHandle(forWritingAtPath: "/dev/null")
        p.standardOutput = log
        p.standardError = FileHandle.standardError
        try p.run()
        process = p
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: socket), curl("GET", "/v1/health").status == 200 { return }
            usleep(50_000)
        }
        throw TestFailure("the daemon did not come up at \(socket)")
    }

    /// SIGKILL: nothing of the daemon's own shutdown runs.
    func kill9() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    /// Stops every job, stops the daemon, and removes the state directory; returns the run
    /// cgroups left behind (none expected).
    @discardableResult
    func tearDown() -> [String] {
        if process != nil {
            let jobs = (try? JSONDecoder().decode([Job].self, from: Data(cli(["ls", "--json"], token: operatorToken).stdout.utf8))) ?? []
            for job in jobs { _ = curl("DELETE", "/v1/jobs/\(job.id)", token: operatorToken) }
            for _ in 0..<100 {
                let left = (try? JSONDecoder().decode([Job].self, from: Data(curl("GET", "/v1/jobs", token: operatorToken).body.utf8))) ?? []
                if left.isEmpty { break }
                usleep(100_000)
            }
            // Removed tenants are released (cgroup levels, checkpoints, logs) within a pass.
            for name in ((try? JSONDecoder().decode([Tenant].self, from: Data(curl("GET", "/v1/tenants", token: operatorToken).body.utf8))) ?? []).map(\.name) {
                _ = curl("DELETE", "/v1/tenants/\(name)", token: operatorToken)
            }
            for _ in 0..<100 {
                let left = (try? JSONDecoder().decode([Tenant].self, from: Data(curl("GET", "/v1/tenants", token: operatorToken).body.utf8))) ?? []
                if left.isEmpty { break }
                usleep(100_000)
            }
            stop()
        }
        let left = leftoverRuns()
        try? FileManager.default.removeItem(atPath: stateDir)
        return left
    }

    /// Cgroups of this daemon's tenants still present in any hierarchy (their levels included:
    /// removed tenants are released).
    func leftoverRuns() -> [String] {
        var found: [String] = []
        for tenant in tenantIDs {
            let out = (try? Command.run(["/usr/bin/find", "/sys/fs/cgroup", "-mindepth", "3", "-maxdepth", "9", "-type", "d", "-path", "*/tenants/\(tenant)*"]))?.stdout ?? ""
            found += out.split(separator: "\n").map(String.init)
        }
        return found
    }

    /// `berth ARGS` against this daemon.
    func cli(_ args: [String], token: String? = nil, stdin: String? = nil) -> Command {
        var env = ["BERTH_SOCKET": socket, "PATH": "/usr/bin:/bin"]
        if let token { env["BERTH_TOKEN"] = token }
        return (try? Command.run([Host.binDir + "/berth"] + args, environment: env)) ?? Command(status: -1, stdout: "", stderr: "could not run berth")
    }

    /// An HTTP request over the socket with curl: status and body.
    func curl(_ method: String, _ path: String, token: String? = nil, body: String? = nil, bodyFile: String? = nil,
              headers: [String] = []) -> (status: Int, body: String) {
        var args = ["/usr/bin/curl", "-s", "--max-time", "30", "--unix-socket", socket, "-X", method, "-o", "-", "-w", "\n%{http_code}"]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        for h in headers { args += ["-H", h] }
        if let body { args += ["--data-binary", body, "-H", "Content-Type: application/yaml"] }
        if let bodyFile { args += ["--data-binary", "@" + bodyFile, "-H", "Content-Type: application/yaml"] }
        args.append("http://localhost" + path)
        guard let out = try? Command.run(args) else { return (0, "") }
        let lines = out.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// Creates a tenant (and remembers its id for the leftovers check); returns its token.
    func addTenant(_ name: String, quota: [String] = []) throws -> String {
        let out = cli(["tenant", "add", name], token: operatorToken)
        guard out.status == 0 else { throw TestFailure("tenant add \(name): \(out.stderr)") }
        let token = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if let tenants = try? JSONDecoder().decode([Tenant].self, from: Data(curl("GET", "/v1/tenants", token: operatorToken).body.utf8)) {
            tenantIDs = tenants.map(\.id)
        }
        if !quota.isEmpty {
            let q = cli(["quota", "set", name] + quota, token: operatorToken)
            guard q.status == 0 else { throw TestFailure("quota set \(name): \(q.stderr)") }
        }
        return token
    }

    func submit(_ yaml: String, token: String, key: String? = nil) -> (status: Int, response: SubmitResponse?, body: String) {
        let r = curl("POST", "/v1/jobs", token: token, body: yaml, headers: key.map { ["Idempotency-Key: \($0)"] } ?? [])
        return (r.status, try? JSONDecoder().decode(SubmitResponse.self, from: Data(r.body.utf8)), r.body)
    }

    func status(_ job: String, token: String) -> JobStatus? {
        try? JSONDecoder().decode(JobStatus.self, from: Data(curl("GET", "/v1/jobs/\(job)", token: token).body.utf8))
    }

    /// Polls until `predicate` holds for the job, up to `seconds`.
    func waitFor(_ job: String, token: String, seconds: Double = 20, _ predicate: (JobStatus) -> Bool) -> JobStatus? {
        let deadline = Date().addingTimeInterval(seconds)
        var last: JobStatus?
        while Date() < deadline {
            last = status(job, token: token)
            if let s = last, predicate(s) { return s }
            usleep(50_000)
        }
        return nil
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
