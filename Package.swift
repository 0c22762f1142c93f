// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
        .executable(name: "berth-shim", targets: ["berth-shim"]),
        .executable(name: "berth-checks", targets: ["berth-checks"]),
        .executable(name: "berth-probe", targets: ["berth-probe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // The model: ids, specs, resources and units, errors. No I/O.
        .target(name: "BerthCore"),

        // Syscalls Swift cannot reach directly, shared by the shim and the Swift side.
        .target(name: "CBerthSys"),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap",
                       providers: [.apt(["libcap-dev"])]),
        // rtnetlink through libnl: the shim makes a shaped run's veth pair, addresses, route and
        // tc qdiscs with it, no `ip` or `tc` exec on the launch path.
        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),

        // cgroup drivers, stats parsing, the launcher, host checks.
        .target(name: "BerthIsolation",
                dependencies: ["BerthCore", "CBerthSys", "CSeccomp", "CCap"]),

        // Keeps the Swift runtime out of the plain-C executables below.
        .target(name: "CNoSwiftRuntime"),

        // The per-run supervisor: the job's parent and its sandbox. Plain C, libc only, linked
        // statically: no dynamic loader on the launch path, and a small resident set.
        .executableTarget(name: "berth-shim", dependencies: ["CBerthSys", "CNoSwiftRuntime", "CNetlink"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),

        // The sandbox probe: run as a job by the checks, it tries what a hostile job would.
        .executableTarget(name: "berth-probe", dependencies: ["CNoSwiftRuntime"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),

        // Job specs as people write them (YAML or JSON), parsed strictly into BerthCore's model.
        .target(name: "BerthSpec", dependencies: ["BerthCore", .product(name: "Yams", package: "Yams")]),

        // The store protocol and its embedded SQLite implementation (GRDB).
        .target(name: "BerthStore", dependencies: ["BerthCore", .product(name: "GRDB", package: "GRDB.swift")]),

        // The node side: starts runs through the Launcher, watches them through their shims
        // (pidfd + status file), re-adopts them after a restart, owns their log files.
        .target(name: "BerthAgent", dependencies: [
            "BerthCore", "BerthIsolation", "CBerthSys",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        // Admission by quota and the reconciler that drives runs toward the store's desired state.
        .target(name: "BerthScheduler", dependencies: [
            "BerthCore", "BerthStore", "BerthAgent",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // The HTTP API (Hummingbird), auth and rate limits, and the daemon that assembles it all.
        .target(name: "BerthServer", dependencies: [
            "BerthCore", "BerthSpec", "BerthStore", "BerthAgent", "BerthScheduler", "BerthIsolation",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ]),

        // The API client the CLI uses: HTTP over the daemon's Unix socket (or TCP).
        .target(name: "BerthClient", dependencies: [
            "BerthCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        // The CLI. A static executable, Swift runtime, libseccomp and libcap included: no
        // dynamic loader on every launch (`berth --help` 15 ms with 21 shared libraries, 3.3 ms
        // static). The flag is a compile flag too, so that this target imports the static
        // modules, whose autolink entries name their own dependencies. Only FoundationEssentials
        // is imported: no libFoundation, no ICU. glibc warns at link time that NSS functions
        // (getpwnam_r…) need its shared libraries at run time: Berth never calls them.
        .executableTarget(name: "berth", dependencies: [
            "BerthCore", "BerthIsolation", "BerthServer", "BerthClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        swiftSettings: [.unsafeFlags(["-static-executable"])],
        linkerSettings: [.unsafeFlags(["-static-executable"])]),

        // Isolation checks: run by the host tests and, statically linked, inside the cgroup v2 VM.
        .executableTarget(name: "berth-checks", dependencies: ["BerthCore", "BerthIsolation"]),

        // Launch-latency benchmark and its plain-C floor.
        .target(name: "CLaunchFloor", dependencies: ["CBerthSys"], path: "Benchmarks/CLaunchFloor"),
        .executableTarget(name: "berth-bench", dependencies: ["BerthCore", "BerthIsolation", "CLaunchFloor"],
                          path: "Benchmarks/LaunchLatency"),

        // The service benchmark: API submissions, submit-to-running, many jobs; floors beside.
        .executableTarget(name: "berth-service-bench", dependencies: [
            "BerthCore", "BerthIsolation", "BerthClient", .product(name: "GRDB", package: "GRDB.swift"),
        ], path: "Benchmarks/ServiceBench"),

        .testTarget(name: "BerthCoreTests", dependencies: ["BerthCore"]),
        .testTarget(name: "BerthIsolationTests", dependencies: ["BerthCore", "BerthIsolation", "CBerthSys"]),
        .testTarget(name: "BerthIntegrationTests", dependencies: ["BerthCore", "BerthIsolation"]),
        .testTarget(name: "BerthSpecTests", dependencies: ["BerthCore", "BerthSpec"]),
        .testTarget(name: "BerthStoreTests", dependencies: ["BerthCore", "BerthStore"]),
        .testTarget(name: "BerthServiceTests", dependencies: [
            "BerthCore", "BerthServer", "BerthClient", "BerthScheduler", .product(name: "Yams", package: "Yams"),
        ]),
    ]
)
