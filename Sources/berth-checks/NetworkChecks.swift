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
    var seen: Set<String> = []
    for i in 0..<6 {
        let before = pool.readyCount
        let spec = ctx.spec(["/bin/sh", "-c", "'\(ctx.probePath)' net --tcp 127.0.0.1:\(tcp.port) > \"$BERTH_CHECKPOINT_DIR/out\""])
        let r = try launcher.start(spec).wait()
        let text = (try? String(contentsOfFile: (try launcher.checkpointDirectory(spec)) + "/out", encoding: .utf8)) ?? ""
        try launcher.removeCheckpoints(spec)
        let got = netResults(text)
        try require(r.ending == .exited(code: 0) && r.cgroupRemoved, "run \(i) ended as \(r.ending.summary)")
        try require(got["interfaces"] == "lo" && got["loopback"] == "ok", "run \(i): interfaces \(got["interfaces"] ?? "?"), loopback \(got["loopback"] ?? "?")")
        try require(got["tcp 127.0.0.1:\(tcp.port)"] == "ECONNREFUSED", "run \(i) reached the host's 127.0.0.1: \(text)")
        try require(got["fds"] == "0 1 2", "run \(i)'s job holds fds \(got["fds"] ?? "?"), want 0 1 2")
        let ns = got["netns"] ?? "?"
        try require(!seen.contains(ns), "run \(i) joined \(ns), a namespace an earlier run had")
        seen.insert(ns)
        if i == 0 { try require(before == 4, "the pool was not full before the first run") }
    }
    for _ in 0..<500 where pool.readyCount < 4 { usleep(10_000) }
    try require(pool.readyCount == 4, "the pool refilled to \(pool.readyCount) of 4")
    return "6 runs from a pool of 4: each in a namespace of its own (\(seen.count) distinct), lo only, host refused, fds 0 1 2; the pool refilled"
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
