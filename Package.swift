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

        // cgroup drivers, stats parsing, the launcher, host checks.
        .target(name: "BerthIsolation",
                dependencies: ["BerthCore", "CBerthSys", "CSeccomp", "CCap"]),

        // Keeps the Swift runtime out of the plain-C executables below.
        .target(name: "CNoSwiftRuntime"),

        // The per-run supervisor: the job's parent and its sandbox. Plain C, libc only, linked
        // statically: no dynamic loader on the launch path, and a small resident set.
        .executableTarget(name: "berth-shim", dependencies: ["CBerthSys", "CNoSwiftRuntime"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),

        // The sandbox probe: run as a job by the checks, it tries what a hostile job would.
        .executableTarget(name: "berth-probe", dependencies: ["CNoSwiftRuntime"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),

        // The CLI. A static executable, Swift runtime, libseccomp and libcap included: no
        // dynamic loader on every launch (`berth --help` 15 ms with 21 shared libraries, 3.3 ms
        // static). The flag is a compile flag too, so that this target imports the static
        // modules, whose autolink entries name their own dependencies. Only FoundationEssentials
        // is imported: no libFoundation, no ICU. glibc warns at link time that NSS functions
        // (getpwnam_r…) need its shared libraries at run time: Berth never calls them.
        .executableTarget(name: "berth", dependencies: [
            "BerthCore", "BerthIsolation",
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

        .testTarget(name: "BerthCoreTests", dependencies: ["BerthCore"]),
        .testTarget(name: "BerthIsolationTests", dependencies: ["BerthCore", "BerthIsolation", "CBerthSys"]),
        .testTarget(name: "BerthIntegrationTests", dependencies: ["BerthCore", "BerthIsolation"]),
    ]
)
