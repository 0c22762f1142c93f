#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// A tenant as Berth records it: its name, its id (what cgroup and directory names use) and
/// its uid (also its gid). Allocated once, never derived from the name.
public struct TenantRecord: Sendable, Equatable {
    public let name: TenantName
    public let id: TenantID
    public let uid: UInt32
    /// The tenant's gid: the same number as its uid.
    public var gid: UInt32 { uid }

    public init(name: TenantName, id: TenantID, uid: UInt32) {
        self.name = name
        self.id = id
        self.uid = uid
    }
}

/// The tenants Berth knows, in `<state>/tenants`: a first line `# berth tenants v1`, then one
/// line per tenant, `name id uid`. A tenant's id is random (`t` and 16 hex digits, unique in
/// the file) and its uid the lowest one in `range` that neither another tenant nor the host's
/// accounts (`HostAccounts`) use. Every call holds an exclusive flock on
/// `<state>/tenants.lock` (the file itself is replaced, so it cannot carry the lock); a change
/// is written to `tenants.tmp`, fsync'd, renamed over `tenants`, and the directory fsync'd.
///
/// The first call on a state directory that still has the old `<state>/tenant-uids`
/// (`name uid`) and no `tenants` imports it, with fresh ids, so existing tenants keep their
/// uid. The state directory must exist (the `Launcher` makes it). The store takes this over
/// in a later issue.
public struct TenantRegistry: Sendable {
    public let stateDirectory: String
    public let range: ClosedRange<UInt32>
    public let accounts: HostAccounts

    /// Where tenant uids come from unless the operator says otherwise.
    public static let defaultRange: ClosedRange<UInt32> = 200_000...299_999

    /// The first line of the file; another version is refused, not guessed at.
    public static let header = "# berth tenants v1"

    public init(stateDirectory: String, range: ClosedRange<UInt32> = TenantRegistry.defaultRange, accounts: HostAccounts = HostAccounts()) {
        self.stateDirectory = stateDirectory
        self.range = range
        self.accounts = accounts
    }

    /// `<state>/tenants`.
    public var file: String { stateDirectory + "/tenants" }
    var lockFile: String { stateDirectory + "/tenants.lock" }
    var temporaryFile: String { stateDirectory + "/tenants.tmp" }
    /// The file `TenantIdentities` kept, imported once.
    var oldFile: String { stateDirectory + "/tenant-uids" }

    /// The tenant's record, allocating its id and uid the first time the name is seen.
    /// Throws when `range` is not a valid uid range or has no free uid left.
    public func tenant(_ name: TenantName) throws -> TenantRecord {
        try locked { records in
            if let record = records.first(where: { $0.name == name }) { return record }
            try Self.check(range: range, field: "uid-range")
            let taken = try accounts.load()
            let uids = Set(records.map(\.uid))
            guard let uid = range.first(where: { !uids.contains($0) && taken.conflict($0) == nil }) else {
                throw BerthError(.system, "uid-range \(Self.text(range)): no free uid left for tenant \(name): \(records.count) tenants, the rest used by the host's accounts")
            }
            let ids = Set(records.map(\.id))
            var id = TenantID.random()
            while ids.contains(id) { id = TenantID.random() }
            let record = TenantRecord(name: name, id: id, uid: uid)
            records.append(record)
            return record
        }
    }

    /// The tenant's record, or nil if it has none; never allocates.
    public func lookup(_ name: TenantName) throws -> TenantRecord? {
        try locked { records in records.first { $0.name == name } }
    }

    /// Every record, in the file's order.
    public func all() throws -> [TenantRecord] {
        try locked { records in records }
    }

    /// Forgets a tenant, so that its uid may go to another one; returns the record removed
    /// (nil: there was none). The caller must first have removed everything the tenant owns:
    /// its cgroup and its checkpoint subtree, or the next tenant given the uid would own them.
    /// (The store will add a grace period before a released uid is reused.)
    @discardableResult
    public func release(_ name: TenantName) throws -> TenantRecord? {
        try locked { records in
            guard let index = records.firstIndex(where: { $0.name == name }) else { return nil }
            return records.remove(at: index)
        }
    }

    /// Parses an operator's uid range, `first-last` in decimal ("200000-299999"). Refuses
    /// anything else, a range that includes 0 (root) or 4294967295 (uid -1, "no change" to
    /// setresuid), and a reversed one, naming `field` and the rule.
    public static func parseRange(_ text: String, field: String = "uid-range") throws -> ClosedRange<UInt32> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        let isNumber = { (s: Substring) in (1...10).contains(s.utf8.count) && s.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard parts.count == 2, isNumber(parts[0]), isNumber(parts[1]),
              let first = UInt64(parts[0]), let last = UInt64(parts[1]) else {
            throw BerthError.invalid(field, "must be two decimal numbers 'first-last', like 200000-299999", got: text)
        }
        guard first <= last else { throw BerthError.invalid(field, "first must not be greater than last", got: text) }
        guard last < UInt64(UInt32.max) else {
            throw BerthError.invalid(field, "must stay below 4294967295 (uid -1 means 'no change' to setresuid)", got: text)
        }
        let range = UInt32(first)...UInt32(last)
        try check(range: range, field: field, got: text)
        return range
    }

    /// The rules any uid range must follow, whoever made it.
    static func check(range: ClosedRange<UInt32>, field: String, got: String? = nil) throws {
        let shown = got ?? text(range)
        guard range.lowerBound > 0 else { throw BerthError.invalid(field, "must not include 0 (root)", got: shown) }
        guard range.upperBound < UInt32.max else {
            throw BerthError.invalid(field, "must stay below 4294967295 (uid -1 means 'no change' to setresuid)", got: shown)
        }
    }

    static func text(_ range: ClosedRange<UInt32>) -> String { "\(range.lowerBound)-\(range.upperBound)" }

    // MARK: - The file

    /// Runs `body` on the records under the lock, and writes them back if it changed them
    /// (or they were just imported from the old file).
    private func locked<T>(_ body: (inout [TenantRecord]) throws -> T) throws -> T {
        let lockFD = try Sys.retrying(.system, "open \(lockFile)") { open(lockFile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        defer { close(lockFD) }
        try Sys.retrying(.system, "flock \(lockFile)") { flock(lockFD, LOCK_EX) }
        var changed = false
        var records: [TenantRecord]
        if let text = try Self.contents(of: file) {
            records = try parse(text)
        } else if let old = try Self.contents(of: oldFile) {
            records = try importOld(old)
            changed = true
        } else {
            records = []
        }
        let before = records
        let result = try body(&records)
        if changed || records != before { try write(records) }
        return result
    }

    func parse(_ text: String) throws -> [TenantRecord] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first, first == Self.header else {
            let got = lines.first.map(String.init) ?? ""
            if got.hasPrefix("# berth tenants ") { throw BerthError(.system, "\(file):1: unsupported version '\(got)'; this Berth reads '\(Self.header)'") }
            throw BerthError(.system, "\(file):1: must start with '\(Self.header)'")
        }
        var records: [TenantRecord] = []
        var names = Set<TenantName>(), ids = Set<TenantID>(), uids = Set<UInt32>()
        for (index, line) in lines.enumerated().dropFirst() {
            let at = "\(file):\(index + 1)"
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3 else { throw BerthError(.system, "\(at): must be 'name id uid' (got '\(line)')") }
            guard let name = try? TenantName(String(fields[0])) else { throw BerthError(.system, "\(at): not a tenant name (got '\(fields[0])')") }
            guard let id = TenantID(String(fields[1])) else { throw BerthError(.system, "\(at): not a tenant id, 't' and 16 lowercase hex digits (got '\(fields[1])')") }
            guard let uid = Self.uid(fields[2]) else { throw BerthError(.system, "\(at): not a uid other than 0 and 4294967295 (got '\(fields[2])')") }
            guard names.insert(name).inserted else { throw BerthError(.system, "\(at): tenant \(name) is recorded twice") }
            guard ids.insert(id).inserted else { throw BerthError(.system, "\(at): id \(id) is recorded twice") }
            guard uids.insert(uid).inserted else { throw BerthError(.system, "\(at): uid \(uid) is recorded twice") }
            records.append(TenantRecord(name: name, id: id, uid: uid))
        }
        return records
    }

    /// The old `name uid` lines, each given a fresh id. Refuses a line it cannot read rather
    /// than drop a tenant whose uid would then go to another.
    func importOld(_ text: String) throws -> [TenantRecord] {
        var records: [TenantRecord] = []
        var ids = Set<TenantID>(), names = Set<TenantName>(), uids = Set<UInt32>()
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let at = "\(oldFile):\(index + 1)"
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, let name = try? TenantName(String(fields[0])), let uid = Self.uid(fields[1]) else {
                throw BerthError(.system, "\(at): cannot import, must be 'name uid' (got '\(line)')")
            }
            guard names.insert(name).inserted, uids.insert(uid).inserted else {
                throw BerthError(.system, "\(at): cannot import, tenant \(name) or uid \(uid) appears twice")
            }
            var id = TenantID.random()
            while !ids.insert(id).inserted { id = TenantID.random() }
            records.append(TenantRecord(name: name, id: id, uid: uid))
        }
        return records
    }

    static func uid(_ text: Substring) -> UInt32? {
        guard (1...10).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let uid = UInt32(text), uid != 0, uid != UInt32.max else { return nil }
        return uid
    }

    /// Writes the whole file anew: temp file, fsync, rename, fsync of the directory.
    private func write(_ records: [TenantRecord]) throws {
        let text = ([Self.header] + records.map { "\($0.name.rawValue) \($0.id.rawValue) \($0.uid)" }).joined(separator: "\n") + "\n"
        let fd = try Sys.retrying(.system, "open \(temporaryFile)") {
            open(temporaryFile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        do {
            let bytes = Array(text.utf8)
            var written = 0
            while written < bytes.count {
                written += try Sys.retrying(.system, "write \(temporaryFile)") {
                    bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress.map { $0 + written }, raw.count - written) }
                }
            }
            try Sys.retrying(.system, "fsync \(temporaryFile)") { fsync(fd) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        try Sys.retrying(.system, "rename \(temporaryFile) to \(file)") { rename(temporaryFile, file) }
        let dirFD = try Sys.retrying(.system, "open \(stateDirectory)") { open(stateDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(dirFD) }
        try Sys.retrying(.system, "fsync \(stateDirectory)") { fsync(dirFD) }
    }

    /// A small file's whole text, or nil when it does not exist. Follows a symlink only when
    /// told (the host's /etc files may be links; Berth's own never are).
    static func contents(of path: String, followingLinks: Bool = false, limit: Int = 1 << 24) throws -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (followingLinks ? 0 : O_NOFOLLOW))
        if fd < 0 && errno == ENOENT { return nil }
        guard fd >= 0 else { throw BerthError(.system, "open \(path): \(Sys.errnoText(errno))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw BerthError(.system, "read \(path): \(Sys.errnoText(errno))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= limit else { throw BerthError(.system, "read \(path): larger than \(limit) bytes") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The host's account files, whose ids no tenant may take: users' uids (and primary gids) in
/// `passwd`, gids in `group`, and the subordinate ranges in `subuid` and `subgid`
/// (`name:start:count`, for user namespaces). A file that does not exist holds nothing.
/// Only the files: accounts that NSS serves from elsewhere (LDAP, sssd) are not seen.
public struct HostAccounts: Sendable, Equatable {
    public var passwd: String
    public var group: String
    public var subuid: String
    public var subgid: String

    public init(passwd: String = "/etc/passwd", group: String = "/etc/group", subuid: String = "/etc/subuid", subgid: String = "/etc/subgid") {
        self.passwd = passwd
        self.group = group
        self.subuid = subuid
        self.subgid = subgid
    }

    /// Every entry of the host's files that takes an id inside `range`, one sentence each, and
    /// a broken range rule first: for `berth doctor`, and to refuse a bad `uid-range` setting.
    /// Empty when the whole range is free.
    public func validate(range: ClosedRange<UInt32>) throws -> [String] {
        var problems: [String] = []
        do { try TenantRegistry.check(range: range, field: "uid-range") } catch let error as BerthError { problems.append(error.message) }
        for account in try load().accounts where account.ids.overlaps(range) {
            problems.append("uid-range \(TenantRegistry.text(range)): \(account.description)")
        }
        return problems
    }

    /// The ids the host's files take, for allocators outside this file's registry (the store).
    public func takenIDs() throws -> TakenIDs { TakenIDs(taken: try load()) }

    /// Ids taken on the host, as `takenIDs()` read them.
    public struct TakenIDs: Sendable {
        let taken: Taken
        public func contains(_ id: UInt32) -> Bool { taken.conflict(id) != nil }
    }

    /// One entry that takes ids: a user, a group, or a subordinate range.
    struct Account: Sendable {
        let ids: ClosedRange<UInt32>
        let description: String
    }

    /// What the files held when read.
    struct Taken: Sendable {
        var accounts: [Account] = []
        var single: [UInt32: String] = [:]
        var ranges: [Account] = []

        /// Why an id is taken, or nil if it is free.
        func conflict(_ id: UInt32) -> String? {
            single[id] ?? ranges.first { $0.ids.contains(id) }?.description
        }
    }

    func load() throws -> Taken {
        var taken = Taken()
        func add(_ account: Account) {
            taken.accounts.append(account)
            if account.ids.count == 1 {
                if taken.single[account.ids.lowerBound] == nil { taken.single[account.ids.lowerBound] = account.description }
            } else {
                taken.ranges.append(account)
            }
        }
        for fields in try Self.lines(passwd) where fields.count >= 4 {
            if let uid = UInt32(fields[2]) { add(Account(ids: uid...uid, description: "uid \(uid) is user '\(fields[0])' in \(passwd)")) }
            if let gid = UInt32(fields[3]) { add(Account(ids: gid...gid, description: "gid \(gid) is the group of user '\(fields[0])' in \(passwd)")) }
        }
        for fields in try Self.lines(group) where fields.count >= 3 {
            if let gid = UInt32(fields[2]) { add(Account(ids: gid...gid, description: "gid \(gid) is group '\(fields[0])' in \(group)")) }
        }
        for file in [subuid, subgid] {
            for fields in try Self.lines(file) where fields.count >= 3 {
                guard let start = UInt32(fields[1]), let count = UInt32(fields[2]), count > 0 else { continue }
                let last = UInt32(min(UInt64(start) + UInt64(count) - 1, UInt64(UInt32.max)))
                add(Account(ids: start...last, description: "\(start)-\(last) is the subordinate range of '\(fields[0])' in \(file)"))
            }
        }
        return taken
    }

    /// The colon-separated fields of each line that is not blank or a comment.
    static func lines(_ path: String) throws -> [[String]] {
        guard let text = try TenantRegistry.contents(of: path, followingLinks: true) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
            return line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }
}
