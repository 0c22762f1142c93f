#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CBerthSys

/// How a host mounts cgroups, told apart by statfs magic as youki and runc do.
public enum CgroupMode: String, Sendable {
    /// One cgroup2 hierarchy with controllers: the target.
    case v2
    /// v1 controllers plus a controller-less cgroup2 at `unified/`.
    case hybrid
    /// v1 only: no cgroup2 anywhere. Not supported.
    case v1

    static let cgroup2Magic: Int = 0x6367_7270
    static let tmpfsMagic: Int = 0x0102_1994

    /// Detects the mode of the cgroup mount at `mount` (normally `/sys/fs/cgroup`).
    public static func detect(mount: String = "/sys/fs/cgroup") throws -> CgroupMode {
        if try magic(mount) == cgroup2Magic { return .v2 }
        if (try? magic(mount + "/unified")) == cgroup2Magic { return .hybrid }
        return .v1
    }

    static func magic(_ path: String) throws -> Int {
        Int(try Sys.retrying(.system, "statfs \(path)") { berth_statfs_magic(path) })
    }
}

/// The cgroup paths of the calling process, from `/proc/self/cgroup`: controller list → path.
/// On v2 the single entry has the key "" (`0::/path`).
public func ownCgroups(procFile: String = "/proc/self/cgroup") -> [String: String] {
    var result: [String: String] = [:]
    for line in (Sys.read(procFile) ?? "").split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { continue }
        for controller in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
            result[String(controller)] = String(parts[2])
        }
    }
    return result
}
