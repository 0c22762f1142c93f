#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CBerthSys

/// A whole block device as the I/O controllers name it: `major:minor`.
public struct BlockDevice: Sendable, Equatable {
    public let major: UInt32
    public let minor: UInt32
    public var majorMinor: String { "\(major):\(minor)" }

    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    /// The whole disk holding `path`. A partition maps to its disk, because the I/O
    /// controllers take whole devices. A filesystem with no block device (tmpfs, overlay,
    /// NFS) is an error naming `field`.
    public static func holding(_ path: String, field: String = "io-device", sysfs: String = "/sys") throws -> BlockDevice {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw BerthError.invalid(field, "must name an existing path: \(Sys.errnoText(errno))", got: path)
        }
        let dev = BlockDevice(major: berth_dev_major(UInt64(st.st_dev)), minor: berth_dev_minor(UInt64(st.st_dev)))
        let node = "\(sysfs)/dev/block/\(dev.majorMinor)"
        guard Sys.exists(node) else {
            throw BerthError.invalid(field, "\(path) is on a filesystem with no block device (tmpfs, overlay, NFS…); I/O limits need a disk", got: path)
        }
        guard Sys.exists(node + "/partition") else { return dev }
        // /sys/dev/block/M:m/.. is the whole disk's directory; its `dev` file holds M:m.
        guard let text = Sys.read(node + "/../dev")?.trimmingWhitespace(), let disk = parse(text) else {
            throw BerthError.invalid(field, "cannot find the disk of partition \(dev.majorMinor)", got: path)
        }
        return disk
    }

    static func parse(_ text: String) -> BlockDevice? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else { return nil }
        return BlockDevice(major: major, minor: minor)
    }
}
