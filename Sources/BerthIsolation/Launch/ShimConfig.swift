#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CBerthSys

/// The shim's configuration document (berth_shim_contract.h): `KEY=VALUE` records, each ended
/// by a NUL byte, the first naming the version. Handed to the shim as fd 3 of a memfd, so that
/// it is read whole and strictly, whatever its size, and never shows in `ps`.
struct ShimConfig {
    private(set) var bytes: [UInt8]

    init() {
        bytes = []
        bytes.reserveCapacity(2048)
        append(key: "berth-shim-config", String(BERTH_SHIM_CONFIG_VERSION))
    }

    /// Adds a record. A NUL byte cannot travel in a record (every value becomes a C string):
    /// refused, naming `field`, the spec's field the value came from.
    mutating func add(_ key: String, _ value: String, field: String) throws {
        guard !value.utf8.contains(0) else { throw BerthError.invalid(field, "must not contain a NUL byte") }
        append(key: key, value)
    }

    mutating func add(_ key: String, _ values: [String], field: String) throws {
        for value in values { try add(key, value, field: field) }
    }

    private mutating func append(key: String, _ value: String) {
        bytes += key.utf8
        bytes.append(UInt8(ascii: "="))
        bytes += value.utf8
        bytes.append(0)
    }

    /// A memfd holding the document, at offset 0; the caller closes it.
    func memfd() throws -> Int32 {
        guard bytes.count <= Int(BERTH_SHIM_CONFIG_MAX) else {
            throw BerthError.invalid("command", "command and paths together must fit the shim's 4 MiB configuration")
        }
        let fd = try Sys.retrying(.system, "memfd_create for the shim's configuration") { berth_memfd_create("berth-shim-config") }
        do {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw BerthError(.system, "write the shim's configuration: \(Sys.errnoText(errno))", errno: errno) }
                done += n
            }
            guard lseek(fd, 0, SEEK_SET) == 0 else { throw BerthError(.system, "rewind the shim's configuration: \(Sys.errnoText(errno))", errno: errno) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }
}
