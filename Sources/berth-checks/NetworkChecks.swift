#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import Foundation

/// A listening socket on the host, closed with `close`.
struct HostListener {
    let fd: Int32
    /// The TCP port (0.0.0.0), or 0 for an abstract unix socket.
    let port: Int

    /// TCP on 0.0.0.0, on a port the kernel picks: every host address, loopback included.
    static func tcp() throws -> HostListener {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard fd >= 0, ok else { throw CheckFailure("cannot listen on the host: \(String(cString: strerror(errno)))") }
        return HostListener(fd: fd, port: Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// An abstract unix socket, `@name`.
    static func abstract(_ name: String) throws -> HostListener {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() where i + 1 < raw.count { raw[i + 1] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 16) == 0 }
        }
        guard fd >= 0, ok else { throw CheckFailure("cannot listen on @\(name): \(String(cString: strerror(errno)))") }
        return HostListener(fd: fd, port: 0)
    }

    func close() { _ = Glibc.close(fd) }
}

/// The host's first IPv4 address that is not loopback, if it has one (the cgroup v2 VM may not).
func hostAddress() -> String? {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else { return nil }
    defer { freeifaddrs(list) }
    var p = list
    while let entry = p {
        defer { p = entry.pointee.ifa_next }
        guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET),
              entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
        var text = [CChar](repeating: 0, count: 64)
        addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
            var sin = a.pointee.sin_addr
            _ = inet_ntop(AF_INET, &sin, &text, socklen_t(text.count))
        }
        return String(cString: text)
    }
    return nil
}

/// The probe's `net` lines, by their first words: "tcp 127.0.0.1:80" → "ECONNREFUSED".
func netResults(_ text: String) -> [String: String] {
    var results: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let words = line.split(separator: " ").map(String.init)
        guard words.count >= 2 else { continue }
        if words[0] == "interfaces" || words[0] == "fds" { results[words[0]] = words.dropFirst().joined(separator: " ") }
        else if words.count == 3 { results["\(words[0]) \(words[1])"] = words[2] }
        else { results[words[0]] = words[1] }
    }
    return results
}

let networkChecks: [Check] = [
    ("network-none", { ctx in
        // A job of network `none` has its own namespace with loopback only: the host's
        // services (on 127.0.0.1, on 0.0.0.0, on its own address) and its abstract unix
        // sockets are out of reach. The same probe with network `host` reaches them, which
        // shows the listeners were there to be reached.
        let tcp = try HostListener.tcp()
        defer { tcp.close() }
        let name = "berth-check-\(getpid())"
        let abstract = try HostListener.abstract(name)
        defer { abstract.close() }
        var argv = [ctx.probePath, "net", "--tcp", "127.0.0.1:\(tcp.port)", "--abstract", name]
        let address = hostAddress()
        if let address { argv += ["--tcp", "\(address):\(tcp.port)"] }

        let (r, text) = try ctx.output(of: argv)
        try require(r.ending == .exited(code: 0), "the probe ended as \(r.ending.summary)")
        let none = netResults(text)
        try require(none["interfaces"] == "lo", "interfaces up in the run: \(none["interfaces"] ?? "none"), want lo only")
        try require(none["loopback"] == "ok", "the run's own loopback: \(none["loopback"] ?? "?")")
        try require(none["fds"] == "0 1 2", "the job holds fds \(none["fds"] ?? "?"), want 0 1 2")
        try require(none["tcp 127.0.0.1:\(tcp.port)"] == "ECONNREFUSED", "the host's 127.0.0.1 service: \(none["tcp 127.0.0.1:\(tcp.port)"] ?? "?")")
        try require(none["abstract \(name)"] == "ECONNREFUSED", "the host's abstract socket @\(name): \(none["abstract \(name)"] ?? "?")")
        if let address {
            try require(none["tcp \(address):\(tcp.port)"] == "ENETUNREACH", "the host's \(address): \(none["tcp \(address):\(tcp.port)"] ?? "?")")
        }

        let (hr, hostText) = try ctx.output(of: argv) { $0.network = .host }
        let host = netResults(hostText)
        try require(hr.ending == .exited(code: 0) && host["tcp 127.0.0.1:\(tcp.port)"] == "ok" && host["abstract \(name)"] == "ok",
                    "with network host the listeners should answer: \(hostText)")
        return "none: interfaces 'lo', own loopback ok; host 127.0.0.1 refused, @\(name) refused\(address.map { ", \($0) unreachable" } ?? ""); the same probe with host networking reaches both"
    }),
    ("network-between-runs", { ctx in
        // Two runs (two tenants) each have their own loopback and abstract namespace: what one
        // listens on, the other and the host cannot reach, so no secret or fd passes between them.
        let port = 47_000 + Int(getpid() % 1000)
        let name = "berth-shared-\(getpid())"
        var server = ctx.spec(["/bin/sh", "-c", "'\(ctx.probePath)' net --serve \(port) \(name) 3 > \"$BERTH_CHECKPOINT_DIR/out\""], tenant: otherTenant)
        server.timeoutMillis = 10_000
        let started = try ctx.launcher.start(server)
        let serverOut = (try ctx.launcher.checkpointDirectory(server)) + "/out"
        var serving = false
        for _ in 0..<100 where !serving {
            serving = ((try? String(contentsOfFile: serverOut, encoding: .utf8)) ?? "").contains("serving")
            if !serving { usleep(20_000) }
        }
        let (r, text) = try ctx.output(of: [ctx.probePath, "net", "--tcp", "127.0.0.1:\(port)", "--abstract", name])
        let fromHost = try HostListenerProbe.connect(port: port)
        let result = started.wait()
        let served = (try? String(contentsOfFile: serverOut, encoding: .utf8)) ?? ""
        try? ctx.launcher.removeCheckpoints(server)
        try require(serving && result.ending == .exited(code: 0), "the serving run: serving \(serving), ended \(result.ending.summary): \(served)")
        let got = netResults(text)
        try require(r.ending == .exited(code: 0) && got["tcp 127.0.0.1:\(port)"] == "ECONNREFUSED" && got["abstract \(name)"] == "ECONNREFUSED",
                    "another run reached the server: \(text)")
        try require(fromHost == ECONNREFUSED, "the host reached the run's port \(port): \(fromHost == 0 ? "connected" : String(cString: strerror(fromHost)))")
        try require(served.contains("accepted 0"), "the serving run accepted a connection: \(served)")
        return "a run serving on 0.0.0.0:\(port) and @\(name): another tenant's run and the host get ECONNREFUSED; it accepted 0"
    }),
    networkPoolCheck,
]

let networkPoolCheck: Check = ("network-pool", { ctx in
    // Runs of network none from the daemon's pool: each joins a ready namespace of its own
    // (never one another run had), with loopback only, and the namespace's fd never reaches
    // the job.
    let pool = try NetworkNamespacePool(capacity: 4)
    defer { pool.shutdown() }
    for _ in 0..<500 where pool.readyCount < 4 && pool.failure == nil { usleep(10_000) }
    try require(pool.readyCount == 4 && pool.failure == nil, "the pool holds \(pool.readyCount) of 4: \(pool.failure ?? "still filling")")
    var launcher = ctx.launcher
    launcher.networkNamespaces = pool
    let tcp = try HostListener.tcp()
    defer { tcp.close() }
    // Four runs at once, all from the pool: alive together, their namespaces' inode numbers
    // tell them apart (a freed namespace's number is given again later, so runs one after
    // another could not show it).
    var runs: [(RunSpec, StartedRun)] = []
    for _ in 0..<4 {
        let spec = ctx.spec(["/bin/sh", "-c", "'\(ctx.probePath)' net --tcp 127.0.0.1:\(tcp.port) > \"$BERTH_CHECKPOINT_DIR/out\"; sleep 1"])
        runs.append((spec, try launcher.start(spec)))
    }
    var seen: Set<String> = []
    for (i, (spec, started)) in runs.enumerated() {
        let r = started.wait()
        let text = (try? String(contentsOfFile: (try launcher.checkpointDirectory(spec)) + "/out", encoding: .utf8)) ?? ""
        try launcher.removeCheckpoints(spec)
        let got = netResults(text)
        try require(r.ending == .exited(code: 0) && r.cgroupRemoved, "run \(i) ended as \(r.ending.summary)")
        try require(got["interfaces"] == "lo" && got["loopback"] == "ok", "run \(i): interfaces \(got["interfaces"] ?? "?"), loopback \(got["loopback"] ?? "?")")
        try require(got["tcp 127.0.0.1:\(tcp.port)"] == "ECONNREFUSED", "run \(i) reached the host's 127.0.0.1: \(text)")
        try require(got["fds"] == "0 1 2", "run \(i)'s job holds fds \(got["fds"] ?? "?"), want 0 1 2")
        seen.insert(got["netns"] ?? "?")
    }
    try require(seen.count == 4 && !seen.contains("?"), "four runs at once joined \(seen.count) namespaces: \(seen)")
    for _ in 0..<500 where pool.readyCount < 4 { usleep(10_000) }
    try require(pool.readyCount == 4, "the pool refilled to \(pool.readyCount) of 4")
    return "4 runs at once from a pool of 4: 4 distinct namespaces, lo only, host refused, fds 0 1 2; the pool refilled"
})

enum HostListenerProbe {
    /// A TCP connection from the host to 127.0.0.1:port: 0, or the errno.
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { Glibc.close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0 ? 0 : errno
    }
}

/// iproute2's `ip`, by its path: busybox's shell runs its own `ip` applet (no netns) for a bare name.
let ipTool: String = {
    let candidates: [String] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
    return candidates.first { access($0, X_OK) == 0 } ?? "ip"
}()

/// A network namespace the check makes itself, with a veth to the host: the place shaped runs'
/// traffic goes to (`10.214.0.2`, the host end `10.214.0.1`). Removed by `remove()`.
struct ServerNamespace {
    let name: String
    let hostEnd: String
    let address = "10.214.0.2"
    let scratch: String

    init(scratch: String) throws {
        name = "berth-srv-\(getpid())"
        hostEnd = "bts\(getpid())"
        self.scratch = scratch
        let taken = try shell("\(ipTool) -o addr show to 10.214.0.0/30 | grep -q . && exit 1 || exit 0", scratch: scratch)
        guard taken.status == 0 else { throw CheckFailure("10.214.0.0/30 is already on an interface of this host (a leftover?): remove it first") }
        let ip = ipTool
        for command in ["\(ip) netns add \(name)",
                        "\(ip) link add \(hostEnd) type veth peer name eth0 netns \(name)",
                        "\(ip) addr add 10.214.0.1/30 dev \(hostEnd)", "\(ip) link set \(hostEnd) up",
                        "\(ip) -n \(name) addr add \(address)/30 dev eth0", "\(ip) -n \(name) link set eth0 up",
                        "\(ip) -n \(name) link set lo up", "\(ip) -n \(name) route add default via 10.214.0.1"] {
            let r = try shell(command, scratch: scratch)
            if r.status != 0 {
                remove()
                throw CheckFailure("\(command): \(r.stderr)")
            }
        }
    }

    /// Starts `berth-probe net ARGS` inside, its output to `output`; waits until it listens.
    func serve(_ probe: String, _ args: String, output: String, waitFor: String = "listening") throws -> pid_t {
        let pid = try Subprocess.spawn(["/bin/sh", "-c", "exec \(ipTool) netns exec \(name) '\(probe)' net \(args) > '\(output)' 2>&1"])
        for _ in 0..<200 where !readFile(output).contains(waitFor) { usleep(10_000) }
        guard readFile(output).contains(waitFor) else { throw CheckFailure("the server in \(name) did not listen: \(readFile(output))") }
        return pid
    }

    func remove() {
        _ = try? shell("\(ipTool) netns del \(name); \(ipTool) link del \(hostEnd) 2>/dev/null", scratch: scratch)
    }
}

/// `net.ipv4.ip_forward` set to 1 until `restore()`: shaped runs reach other hosts through
/// this one.
struct Forwarding {
    let before: String
    static let path = "/proc/sys/net/ipv4/ip_forward"
    init() throws {
        before = readFile(Self.path).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Self.write("1") else { throw CheckFailure("cannot turn on \(Self.path)") }
    }
    func restore() { _ = Self.write(before) }
    /// In place: procfs takes no write-and-rename.
    static func write(_ value: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } > 0
    }
}

/// The rate of "WORD BYTES MILLIS" in bits per second.
func bitRate(_ text: String, _ word: String) -> Double? {
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(word + " ") }) else { return nil }
    let parts = line.split(separator: " ")
    guard parts.count == 3, let bytes = Double(parts[1]), let millis = Double(parts[2]), millis > 0 else { return nil }
    return bytes * 8 / (millis / 1000)
}

/// What a shaped-run check stands on: forwarding on, a server namespace, and a launcher
/// whose allow-list is `allow` (a CIDR or CIDR:PORT of the server). `close()` undoes it all,
/// the filter table included.
struct ShapedFixture {
    let forwarding: Forwarding
    let server: ServerNamespace
    var launcher: Launcher

    init(_ ctx: Context, allow: (String) -> String) throws {
        forwarding = try Forwarding()
        do {
            server = try ServerNamespace(scratch: ctx.scratch)
        } catch {
            forwarding.restore()
            throw error
        }
        var layout = ctx.launcher.layout
        do {
            layout.shapedAllow = [try AllowRule(parsing: allow(server.address), field: "allow")]
            launcher = try Launcher(driver: ctx.launcher.driver, shimPath: ctx.launcher.shimPath, layout: layout)
        } catch {
            server.remove()
            forwarding.restore()
            throw error
        }
    }

    func close() {
        try? NetworkFilter.remove()
        server.remove()
        forwarding.restore()
    }
}

let shapedChecks: [Check] = [
    ("network-shaped", { ctx in
        // Two shaped runs at once, each beside the other (the second more generous), send to
        // and then receive from a server in a namespace the check made: each direction of
        // each run at its own limit over 3 s, within 0.7–1.1×.
        var fixture = try ShapedFixture(ctx) { "\($0)/32" }
        defer { fixture.close() }
        let server = fixture.server
        // With the daemon's pool: the runs' namespaces come ready, the shim wires them.
        let pool = try NetworkNamespacePool(capacity: 2)
        defer { pool.shutdown() }
        fixture.launcher.networkNamespaces = pool
        let launcher = fixture.launcher
        for _ in 0..<500 where pool.readyCount < 2 { usleep(10_000) }
        // (egress, ingress) of each run, in bits per second.
        let limits = [(10_000_000, 20_000_000), (30_000_000, 40_000_000)]
        var counters: [[String: Double]] = []
        /// Runs one probe per run at once; returns each run's output (and keeps its counters).
        func together(_ argvs: [[String]]) throws -> [String] {
            var started: [(RunSpec, StartedRun)] = []
            for (argv, (egress, ingress)) in zip(argvs, limits) {
                let quoted = argv.map { "'\($0)'" }.joined(separator: " ")
                var spec = ctx.spec(["/bin/sh", "-c", "\(quoted) > \"$BERTH_CHECKPOINT_DIR/out\""])
                spec.network = .shaped
                spec.egressBitsPerSecond = egress
                spec.ingressBitsPerSecond = ingress
                started.append((spec, try launcher.start(spec)))
            }
            var outputs: [String] = []
            for (spec, run) in started {
                let r = run.wait()
                var values: [String: Double] = [:]
                for line in (ShimStatus.read(run.statusPath)?.stats?["net"] ?? "").split(separator: "\n") {
                    let parts = line.split(separator: " ")
                    if parts.count == 2, let v = Double(parts[1]) { values[String(parts[0])] = v }
                }
                counters.append(values)
                let text = readFile((try launcher.checkpointDirectory(spec)) + "/out")
                try launcher.removeCheckpoints(spec)
                try require(r.ending == .exited(code: 0) && r.cgroupRemoved, "a run ended as \(r.ending.summary): \(text)")
                outputs.append(text)
            }
            return outputs
        }
        var status: Int32 = 0
        let sinks = try [5001, 5002].map { port in
            (port, try server.serve(ctx.probePath, "--sink \(port) 10", output: ctx.scratch + "/sink-\(port).out"))
        }
        _ = try together(sinks.map { [ctx.probePath, "net", "--send", "\(server.address):\($0.0)", "3"] })
        for (_, pid) in sinks { waitpid(pid, &status, 0) }
        let sent = try sinks.map { port, _ in
            guard let rate = bitRate(readFile(ctx.scratch + "/sink-\(port).out"), "sink") else {
                throw CheckFailure("no rate at the server's port \(port): \(readFile(ctx.scratch + "/sink-\(port).out"))")
            }
            return rate
        }
        let sources = try [5003, 5004].map { port in
            try server.serve(ctx.probePath, "--source \(port) 5", output: ctx.scratch + "/source-\(port).out")
        }
        let outputs = try together([5003, 5004].map { [ctx.probePath, "net", "--recv", "\(server.address):\($0)", "3"] })
        for pid in sources { waitpid(pid, &status, 0) }
        let received = try outputs.map { text in
            guard let rate = bitRate(text, "received") else { throw CheckFailure("no rate from a receiving run: \(text)") }
            return rate
        }
        // The shaping's own counts agree with the interface's within 5%: what eth0's tbf sent
        // is what the host end received, and what the host end's tbf sent is what it transmitted.
        try require(counters.count == 4, "counters of \(counters.count) of 4 runs")
        for (i, c) in counters.enumerated() {
            let (tc, interface) = i < 2 ? ("tc_egress_bytes", "rx_bytes") : ("tc_ingress_bytes", "tx_bytes")
            guard let a = c[tc], let b = c[interface], a > 1_000_000, b > 0 else {
                throw CheckFailure("run \(i): no \(tc) or \(interface) in its status: \(c)")
            }
            try require(abs(a - b) / b <= 0.05, String(format: "run %d: %@ %.0f against %@ %.0f, %.1f%% apart", i, tc, a, interface, b, abs(a - b) / b * 100))
        }
        var lines: [String] = []
        for (i, (egress, ingress)) in limits.enumerated() {
            let out = sent[i] / Double(egress), into = received[i] / Double(ingress)
            try require((0.7...1.1).contains(out), String(format: "run %d: egress %.2f Mbit/s, %.2f× its %d Mbit limit", i, sent[i] / 1e6, out, egress / 1_000_000))
            try require((0.7...1.1).contains(into), String(format: "run %d: ingress %.2f Mbit/s, %.2f× its %d Mbit limit", i, received[i] / 1e6, into, ingress / 1_000_000))
            lines.append(String(format: "%d/%d Mbit held at %.2f×/%.2f×", egress / 1_000_000, ingress / 1_000_000, out, into))
        }
        let left = readFile("/proc/net/dev").split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("bh") }
        try require(left.isEmpty, "veths left behind: \(left)")
        let leases = (try? FileManager.default.contentsOfDirectory(atPath: launcher.layout.leaseDirectory)) ?? []
        try require(leases.isEmpty, "address leases left behind: \(leases)")
        let apart = counters.enumerated().map { i, c -> Double in
            let (a, b) = i < 2 ? (c["tc_egress_bytes"] ?? 0, c["rx_bytes"] ?? 1) : (c["tc_ingress_bytes"] ?? 0, c["tx_bytes"] ?? 1)
            return abs(a - b) / b * 100
        }.max() ?? 0
        return "two runs at once, out/in over 3 s: " + lines.joined(separator: "; ") + String(format: "; tc's byte counts within %.2f%% of the veth's; no veth or lease left", apart)
    }),
    filterCheck,
]

let filterCheck: Check = ("network-filtered", { ctx in
    // The filter (nftables): a shaped run reaches an allow-listed destination, and nothing
    // else: not another port of it, not a service on the host (its gateway, the host's own
    // address). What is dropped times out (ETIMEDOUT); nothing answers.
    let fixture = try ShapedFixture(ctx) { "\($0)/32:5001" }
    defer { fixture.close() }
    let (server, launcher) = (fixture.server, fixture.launcher)
    let allowed = try server.serve(ctx.probePath, "--serve 5001 berth-allowed 6", output: ctx.scratch + "/allowed.out", waitFor: "serving")
    let other = try server.serve(ctx.probePath, "--serve 5003 berth-other 6", output: ctx.scratch + "/other.out", waitFor: "serving")
    let host = try HostListener.tcp()
    defer { host.close() }
    var argv = [ctx.probePath, "net", "--tcp", "\(server.address):5001", "--tcp", "\(server.address):5003", "--gateway", String(host.port)]
    let address = hostAddress()
    if let address { argv += ["--tcp", "\(address):\(host.port)"] }
    let (r, text) = try ctx.output(of: argv, launcher: launcher) { s in
        s.network = .shaped
        s.egressBitsPerSecond = 10_000_000
        s.ingressBitsPerSecond = 10_000_000
    }
    var status: Int32 = 0
    waitpid(allowed, &status, 0)
    waitpid(other, &status, 0)
    let got = netResults(text)
    try require(r.ending == .exited(code: 0), "the run ended as \(r.ending.summary): \(text)")
    try require(got["tcp \(server.address):5001"] == "ok", "the allowed destination: \(got["tcp \(server.address):5001"] ?? "?"): \(text)")
    try require(got["tcp \(server.address):5003"] == "ETIMEDOUT", "a port not allowed: \(got["tcp \(server.address):5003"] ?? "?")")
    try require(got["gateway \(host.port)"] == "ETIMEDOUT", "a host service on the run's gateway: \(got["gateway \(host.port)"] ?? "?")")
    if let address { try require(got["tcp \(address):\(host.port)"] == "ETIMEDOUT", "a host service on \(address): \(got["tcp \(address):\(host.port)"] ?? "?")") }
    try require(readFile(ctx.scratch + "/other.out").contains("accepted 0"), "the port not allowed accepted a connection")
    try NetworkFilter.remove()
    let table = try shell("nft list table inet \(NetworkFilter.table) >/dev/null 2>&1 && exit 1 || exit 0", scratch: ctx.scratch)
    try require(table.status == 0, "the table inet \(NetworkFilter.table) is still there")
    return "allowed \(server.address):5001 reached; port 5003, the gateway's and \(address ?? "the host's") service on port \(host.port) dropped (ETIMEDOUT); the table removed"
})
