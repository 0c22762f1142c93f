import BerthCore
import Foundation
import Synchronization
import Testing

/// The daemon end to end: the real `berth serve` with its SQLite store, driven through the real
/// CLI and over HTTP (curl on the Unix socket), its jobs real sandboxed runs on this host.
@Suite(.serialized, .enabled(if: Host.rootTests, "needs root: the daemon creates cgroups and tenants' uids"))
struct DaemonTests {
    @Test func submitListLogsStopAndRemove() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a")

        // A batch job that succeeds, followed with --wait through the CLI.
        let file = d.stateDir + "/ok.yaml"
        try "name: hello\ncommand: [/bin/sh, -c, 'echo hello from berth; echo oops >&2']\nresources: {cpu: 0.5, memory: 64Mi}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let wait = d.cli(["submit", file, "--wait"], token: token)
        #expect(wait.status == 0, "\(wait.stdout) \(wait.stderr)")
        #expect(wait.stdout.contains("succeeded"))
        let logs = d.cli(["logs", "hello"], token: token)
        #expect(logs.stdout == "hello from berth\n")
        #expect(d.cli(["logs", "hello", "--stderr"], token: token).stdout == "oops\n")

        // One that fails: its real exit code is recorded.
        let failing = d.submit("name: sad\ncommand: [/bin/sh, -c, 'exit 3']\n", token: token)
        #expect(failing.status == 201)
        let ended = d.waitFor("sad", token: token) { $0.job.phase == .failed }
        #expect(ended?.job.lastExitCode == 3)
        #expect(ended?.runs.first?.exit == "exited")

        // A service is stopped, then removed.
        #expect(d.submit("name: svc\nkind: service\ncommand: [/bin/sleep, '1000']\n", token: token).status == 201)
        #expect(d.waitFor("svc", token: token) { $0.job.phase == .running } != nil)
        let ls = d.cli(["ls", "--all"], token: token)
        #expect(ls.stdout.contains("svc") && ls.stdout.contains("running") && ls.stdout.contains("hello"))
        #expect(d.cli(["stop", "svc"], token: token).status == 0)
        let stopped = d.waitFor("svc", token: token) { $0.job.phase == .stopped }
        #expect(stopped?.runs.first?.exit == "stopped")
        #expect(d.cli(["rm", "svc"], token: token).status == 0)
        var gone = false
        for _ in 0..<100 where !gone { gone = d.curl("GET", "/v1/jobs/svc", token: token).status == 404; usleep(50_000) }
        #expect(gone)
    }

    @Test func jobsCannotSeeTheDaemonsStateDirectory() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a")
        // The store (every tenant's specs), the logs, the operator token and the API socket.
        let probe = "for f in berth.db berth.db-wal operator.token berth.sock logs run; do [ -e \(d.stateDir)/$f ] && echo SEEN $f; done; echo probed"
        #expect(d.submit("name: peek\ncommand: [/bin/sh, -c, '\(probe)']\n", token: token).status == 201)
        #expect(d.waitFor("peek", token: token) { $0.job.phase.isFinal } != nil)
        let out = d.cli(["logs", "peek"], token: token).stdout
        #expect(out == "probed\n", "the job saw: \(out)")
        // And on the host, the store is root's alone.
        let mode = (try FileManager.default.attributesOfItem(atPath: d.stateDir + "/berth.db")[.posixPermissions] as? Int) ?? 0
        #expect(mode & 0o077 == 0)
    }

    @Test func aServiceRestartsWithBackoffThenGivesUp() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a")
        let spec = """
            name: crashy
            kind: service
            command: [/bin/sh, -c, 'exit 1']
            restart: {policy: on-failure, max-restarts: 3, backoff: 200ms, max-backoff: 400ms}
            """
        #expect(d.submit(spec, token: token).status == 201)
        let done = d.waitFor("crashy", token: token, seconds: 30) { $0.job.phase == .failed }
        #expect(done?.job.restarts == 3)
        #expect(done?.runs.count == 4)
        let restarts = done?.events.filter { $0.kind == "restarting" } ?? []
        #expect(restarts.count == 3)
        // The waits grow and are capped: 0.2 s, 0.4 s, 0.4 s.
        #expect(restarts.map(\.message).map { $0.hasSuffix("in 0.2s") || $0.hasSuffix("in 0.4s") }.allSatisfy { $0 })
        #expect(restarts.last?.message.hasSuffix("in 0.4s") == true)
        if let runs = done?.runs.sorted(by: { $0.startedAt < $1.startedAt }), runs.count == 4 {
            // Each run starts no sooner than its backoff after the previous one ended.
            for (a, b) in zip(runs, runs.dropFirst()) { #expect(b.startedAt - (a.endedAt ?? 0) >= 150) }
        }
    }

    @Test func aJobOverQuotaWaitsThenStartsWhenAnotherStops() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a", quota: ["--cpu", "1", "--memory", "100Mi"])
        let first = "name: first\nkind: service\ncommand: [/bin/sleep, '1000']\nresources: {cpu: 0.5, memory: 64Mi}\n"
        let second = "name: second\nkind: service\ncommand: [/bin/sleep, '1000']\nresources: {cpu: 0.5, memory: 64Mi}\n"
        #expect(d.submit(first, token: token).status == 201)
        #expect(d.waitFor("first", token: token) { $0.job.phase == .running } != nil)
        #expect(d.submit(second, token: token).status == 201)
        let waiting = d.waitFor("second", token: token) { $0.job.reason?.contains("waiting for quota: memory") == true }
        #expect(waiting?.job.phase == .pending)
        // Dry run says the same without creating anything.
        let dry = d.curl("POST", "/v1/jobs?dry_run=true", token: token, body: second.replacingOccurrences(of: "second", with: "third"))
        #expect(dry.status == 200 && dry.body.contains("\"admissible\":false"))
        // A job that can never fit is refused at once.
        let huge = d.submit("name: huge\ncommand: [/bin/true]\nresources: {cpu: 0.5, memory: 1Gi}\n", token: token)
        #expect(huge.status == 422 && huge.body.contains("resources.memory"))
        #expect(d.cli(["stop", "first"], token: token).status == 0)
        #expect(d.waitFor("second", token: token) { $0.job.phase == .running } != nil)
        let quota = d.cli(["quota", "show"], token: token)
        #expect(quota.status == 0 && quota.stdout.contains("team-a"))
    }

    @Test func tenantsSeeOnlyTheirOwnJobs() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let a = try d.addTenant("team-a")
        let b = try d.addTenant("team-b")
        let job = try #require(d.submit("name: secret\nkind: service\ncommand: [/bin/sleep, '1000']\n", token: a).response?.job)
        let missing = "j0123456789abcdef"
        for (method, path) in [("GET", "/v1/jobs/\(job.id)"), ("POST", "/v1/jobs/\(job.id)/stop"), ("DELETE", "/v1/jobs/\(job.id)"),
                               ("GET", "/v1/jobs/\(job.id)/logs"), ("GET", "/v1/jobs/\(job.id)/events"), ("GET", "/v1/jobs/secret")] {
            let foreign = d.curl(method, path, token: b)
            let absent = d.curl(method, path.replacingOccurrences(of: job.id, with: missing).replacingOccurrences(of: "secret", with: "nothing"), token: b)
            #expect(foreign.status == 404, "\(method) \(path)")
            // Exactly like a missing one, but for the id in the message.
            #expect(foreign.body.replacingOccurrences(of: job.id, with: "ID").replacingOccurrences(of: "secret", with: "ID")
                    == absent.body.replacingOccurrences(of: missing, with: "ID").replacingOccurrences(of: "nothing", with: "ID"))
        }
        #expect(d.curl("GET", "/v1/jobs", token: b).body == "[]")
        #expect(d.curl("GET", "/v1/tenants", token: b).body.contains("team-a") == false)
        for (method, path) in [("POST", "/v1/tenants"), ("DELETE", "/v1/tenants/team-a"),
                               ("POST", "/v1/tenants/team-a/tokens"), ("PUT", "/v1/tenants/team-a/quota")] {
            #expect(d.curl(method, path, token: a, body: "{}").status == 403, "\(method) \(path)")
        }
        #expect(d.curl("GET", "/v1/jobs", token: "berth_not-a-token").status == 401)
        #expect(d.curl("GET", "/v1/jobs").status == 401)
        // The job still runs: b's attempts changed nothing.
        #expect(d.status(job.id, token: a)?.job.desired == .running)
        // A removed tenant's token is refused at once, though it was just used (and cached).
        #expect(d.curl("GET", "/v1/jobs", token: b).status == 200)
        #expect(d.curl("DELETE", "/v1/tenants/team-b", token: d.operatorToken).status == 202)
        #expect(d.curl("GET", "/v1/jobs", token: b).status == 401)
    }

    @Test func badSpecsAreRefusedAndNothingIsCreated() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a")
        let cases: [(String, String)] = [
            ("name: x\ncommand: [/bin/true]\ncolour: red\n", "colour"),
            ("name: x\ncommand: [/bin/true]\nresources: {memory: 12Qi}\n", "resources.memory"),
            ("name: x\ncommand: [/bin/true]\nresources: {cpu: '-1'}\n", "resources.cpu"),
            ("name: ../../etc\ncommand: [/bin/true]\n", "name"),
            ("name: x\ncommand: [/bin/true]\nworkdir: ../../etc\n", "workdir"),
            ("name: x\ncommand: [/bin/true]\nresources: {memory: 9223372036854775807}\n", "resources.memory"),
            ("name: x\ncommand: [/bin/true]\nresources: {pids: 9223372036854775808}\n", "resources.pids"),
            ("name: x\ncommand: []\n", "command"),
            ("name: x\ncommand: [/bin/true]\nnetwork: host\n", "network"),
            ("{\"name\": \"x\", \"command\": [\"/bin/true\"], \"extra\": 1}", "extra"),
        ]
        for (spec, field) in cases {
            let r = d.submit(spec, token: token)
            #expect((400..<500).contains(r.status), "\(spec)")
            let body = try? JSONDecoder().decode(APIErrorBody.self, from: Data(r.body.utf8))
            #expect(body?.field?.contains(field) == true || body?.message.contains(field) == true, "\(spec) → \(r.body)")
        }
        // 50 MB: refused before it is read in full.
        let big = d.stateDir + "/big.yaml"
        FileManager.default.createFile(atPath: big, contents: Data(repeating: UInt8(ascii: "a"), count: 50 << 20))
        #expect(d.curl("POST", "/v1/jobs", token: token, bodyFile: big).status == 413)
        // The CLI says it in one line and exits non-zero.
        let bad = d.stateDir + "/bad.yaml"
        try "name: x\ncommand: [/bin/true]\ncolour: red\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let cli = d.cli(["submit", bad], token: token)
        #expect(cli.status != 0 && cli.stderr.contains("colour") && cli.stderr.split(separator: "\n").count == 1)
        #expect(d.curl("GET", "/v1/jobs", token: token).body == "[]")
    }

    @Test func killNineKeepsJobsRunningAndRecordsWhatEndedMeanwhile() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a")
        #expect(d.submit("name: steady\nkind: service\ncommand: [/bin/sleep, '1000']\n", token: token).status == 201)
        #expect(d.submit("name: brief\ncommand: [/bin/sh, -c, 'sleep 2; exit 7']\n", token: token).status == 201)
        let before = try #require(d.waitFor("steady", token: token) { $0.job.phase == .running && $0.runs.first?.pid != nil })
        #expect(d.waitFor("brief", token: token) { $0.job.phase == .running } != nil)
        let pid = try #require(before.runs.first?.pid)

        d.kill9()
        #expect(kill(pid, 0) == 0, "the job must outlive the daemon")
        sleep(3)   // brief ends while no daemon watches
        try d.start()

        let after = try #require(d.waitFor("steady", token: token) { $0.events.contains { $0.kind == "adopted" } })
        #expect(after.job.phase == .running)
        #expect(after.runs.count == 1 && after.runs.first?.pid == pid, "re-adopted, not restarted")
        let brief = d.waitFor("brief", token: token) { $0.job.phase == .failed }
        #expect(brief?.job.lastExitCode == 7)
        #expect(brief?.runs.count == 1)
        // The re-adopted run is still under control: it stops when asked.
        #expect(d.cli(["stop", "steady"], token: token).status == 0)
        #expect(d.waitFor("steady", token: token) { $0.job.phase == .stopped } != nil)
        #expect(kill(pid, 0) != 0)
    }

    @Test func logsAreCappedRotatedAndFollowedAcrossRotation() throws {
        let d = try TestDaemon(["--set", "log-max-bytes=4096", "--set", "log-keep=2"])
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a")
        // 400 numbered lines of about 100 bytes, over about 2 s: many rotations at 4 KiB.
        let spec = """
            name: chatty
            command: [/bin/sh, -c, 'i=0; while [ $i -lt 400 ]; do i=$((i+1)); printf "%05d %094d\\n" $i 0; [ $((i % 20)) -eq 0 ] && sleep 0.1; done']
            """
        #expect(d.submit(spec, token: token).status == 201)
        #expect(d.waitFor("chatty", token: token) { $0.job.phase == .running || $0.job.phase.isFinal } != nil)
        let follow = d.cli(["logs", "chatty", "-f"], token: token)
        let numbers = follow.stdout.split(separator: "\n").compactMap { Int($0.prefix(5)) }
        // Lines rotated away before the follower started are gone; from there on, none is lost.
        #expect(numbers.count >= 300 && numbers == Array((401 - numbers.count)...400), "followed \(numbers.count) lines")
        #expect(numbers.last == 400)
        // On disk, never more than keep × max per stream.
        let status = try #require(d.status("chatty", token: token))
        let dir = "\(d.stateDir)/logs/\(status.job.tenantID)/\(status.job.id)/\(status.runs[0].id)"
        let size = (try FileManager.default.contentsOfDirectory(atPath: dir)).filter { $0.hasPrefix("stdout") }
            .compactMap { try? FileManager.default.attributesOfItem(atPath: dir + "/" + $0)[.size] as? Int }.reduce(0, +)
        #expect(size <= 2 * 4096)
    }

    @Test func noRunIsLostOrDoubledUnderConcurrentRetriedSubmissions() throws {
        let d = try TestDaemon()
        defer { #expect(d.tearDown().isEmpty) }
        let token = try d.addTenant("team-a")
        let total = 2000, clients = 16
        let accepted = Mutex([Int: String]())
        DispatchQueue.concurrentPerform(iterations: clients) { c in
            var i = c
            while i < total {
                let spec = "name: n\(i)\ncommand: [/bin/sh, -c, 'exit \(i % 4)']\n"
                // Every tenth is first sent with a timeout too short for its answer, then retried
                // with the same key, as a client that gave up waiting would.
                if i % 10 == 0 {
                    _ = try? Command.run(["/usr/bin/curl", "-s", "--max-time", "0.002", "--unix-socket", d.socket, "-X", "POST",
                                          "-H", "Authorization: Bearer \(token)", "-H", "Idempotency-Key: key-\(i)",
                                          "--data-binary", spec, "http://localhost/v1/jobs"])
                }
                for _ in 0..<5 {
                    let r = d.submit(spec, token: token, key: "key-\(i)")
                    if (r.status == 201 || r.status == 200), let job = r.response?.job {
                        accepted.withLock { $0[i] = job.id }
                        break
                    }
                }
                i += clients
            }
        }
        let ids = accepted.withLock { $0 }
        #expect(ids.count == total)
        // Wait for every job to end.
        var jobs: [Job] = []
        for _ in 0..<1200 {
            jobs = (try? JSONDecoder().decode([Job].self, from: Data(d.curl("GET", "/v1/jobs", token: token).body.utf8))) ?? []
            if jobs.count == total && jobs.allSatisfy({ $0.phase.isFinal }) { break }
            usleep(250_000)
        }
        #expect(jobs.count == total, "exactly \(total) jobs")
        #expect(Set(jobs.map(\.id)) == Set(ids.values))
        let byName = Dictionary(jobs.map { ($0.spec.name, $0) }, uniquingKeysWith: { a, _ in a })
        var wrong = 0, runsSeen = 0
        for i in 0..<total {
            guard let job = byName["n\(i)"] else { wrong += 1; continue }
            let want: JobPhase = i % 4 == 0 ? .succeeded : .failed
            if job.phase != want || job.lastExitCode != i % 4 || job.restarts != 0 { wrong += 1 }
            if i % 50 == 0, let s = d.status(job.id, token: token) { runsSeen += s.runs.count; if s.runs.count != 1 { wrong += 1 } }
        }
        #expect(wrong == 0, "\(wrong) jobs without their one run's real outcome")
        #expect(runsSeen == total / 50)
    }
}
