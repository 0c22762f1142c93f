import GRDB
import Synchronization

/// Group commit: writes that arrive while a transaction is being committed wait, then go
/// together in the next one, each in its own savepoint. One fsync (synchronous=FULL) then
/// acknowledges many writes, and one write's error rolls back only its own savepoint.
final class GroupCommit: Sendable {
    /// A write's result on its way back to its caller (the value is the caller's own `T: Sendable`).
    private struct Box: @unchecked Sendable { let value: Any }
    private struct Pending {
        let operation: @Sendable (Database) throws -> Box
        let continuation: CheckedContinuation<Box, any Error>
    }
    private struct State {
        var queue: [Pending] = []
        var committing = false
    }
    private struct Outcome: @unchecked Sendable { let results: [Result<Box, any Error>] }
    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    /// The most writes one transaction takes, so no caller waits behind an unbounded batch.
    private let maxBatch = 256

    init(writer: any DatabaseWriter) { self.writer = writer }

    /// Runs `operation` inside a transaction shared with concurrent callers; returns once the
    /// transaction is durable.
    func write<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        // Nobody committing: this write commits at once, on this thread. A hop to the writer's
        // queue and back is two thread wake-ups, which on an idle VM cost more than the fsync.
        let alone = state.withLock { s -> Bool in
            if s.committing || !s.queue.isEmpty { return false }
            s.committing = true
            return true
        }
        if alone {
            defer {
                let more = state.withLock { s -> Bool in
                    if s.queue.isEmpty { s.committing = false; return false }
                    return true
                }
                // Writes that arrived meanwhile go together, on the writer's queue.
                if more { Task.detached { await self.drain() } }
            }
            return try commitAlone(operation)
        }
        let box = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Box, any Error>) in
            let startDrain = state.withLock { s -> Bool in
                s.queue.append(Pending(operation: { Box(value: try operation($0)) }, continuation: continuation))
                if s.committing { return false }
                s.committing = true
                return true
            }
            if startDrain { Task.detached { await self.drain() } }
        }
        guard let typed = box.value as? T else { fatalError("group commit returned the wrong type") }
        return typed
    }

    private func commitAlone<T>(_ operation: (Database) throws -> T) throws -> T {
        do {
            return try writer.writeWithoutTransaction { db in
                var value: T?
                try db.inTransaction(.immediate) {
                    value = try operation(db)
                    return .commit
                }
                return value!
            }
        } catch {
            throw Self.commitFailure(error)
        }
    }

    /// A busy or locked database is worth retrying, and the API says so (503 with Retry-After).
    static func commitFailure(_ error: any Error) -> any Error {
        if let e = error as? DatabaseError, e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED {
            return StoreError.retryable("the store is busy; try again")
        }
        return error
    }

    private func drain() async {
        while true {
            let batch = state.withLock { s -> [Pending] in
                let taken = Array(s.queue.prefix(maxBatch))
                s.queue.removeFirst(taken.count)
                if taken.isEmpty { s.committing = false }
                return taken
            }
            if batch.isEmpty { return }
            let operations = batch.map(\.operation)
            var results: [Result<Box, any Error>]
            do {
                results = try await writer.writeWithoutTransaction { db in
                    var results = [Result<Box, any Error>]()
                    try db.inTransaction(.immediate) {
                        for operation in operations {
                            do {
                                var value = Box(value: ())
                                try db.inSavepoint {
                                    value = try operation(db)
                                    return .commit
                                }
                                results.append(.success(value))
                            } catch {
                                results.append(.failure(error))
                            }
                        }
                        return .commit
                    }
                    return Outcome(results: results)
                }.results
            } catch {
                // The commit itself failed: nothing of the batch is durable.
                let failure = Self.commitFailure(error)
                results = batch.map { _ in .failure(failure) }
            }
            for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
        }
    }
}
